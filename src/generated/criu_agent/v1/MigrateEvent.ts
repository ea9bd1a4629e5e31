// Original file: proto/criu_agent/v1/agent.proto

import type { MigrateStep as _criu_agent_v1_MigrateStep, MigrateStep__Output as _criu_agent_v1_MigrateStep__Output } from '../../criu_agent/v1/MigrateStep';
import type { MigrateResult as _criu_agent_v1_MigrateResult, MigrateResult__Output as _criu_agent_v1_MigrateResult__Output } from '../../criu_agent/v1/MigrateResult';
import type { Long } from '@grpc/proto-loader';

export interface MigrateEvent {
  'step'?: (_criu_agent_v1_MigrateStep);
  /**
   * What happened, for people: e.g. "destination accepted checkpoint web-1
   * (CRIU 4.2.1, kernel 6.1.0)".
   */
  'message'?: (string);
  /**
   * Bytes moved in this step, where it moves bytes.
   */
  'bytes'?: (number | string | Long);
  /**
   * How long the step took, in microseconds.
   */
  'duration_us'?: (number | string | Long);
  /**
   * PRE_DUMP_ROUND: the round (1, 2, ...) and the pages it wrote.
   */
  'round'?: (number);
  'pages_written'?: (number | string | Long);
  /**
   * Set on the last event only (step DONE).
   */
  'result'?: (_criu_agent_v1_MigrateResult | null);
}

export interface MigrateEvent__Output {
  'step': (_criu_agent_v1_MigrateStep__Output);
  /**
   * What happened, for people: e.g. "destination accepted checkpoint web-1
   * (CRIU 4.2.1, kernel 6.1.0)".
   */
  'message': (string);
  /**
   * Bytes moved in this step, where it moves bytes.
   */
  'bytes': (string);
  /**
   * How long the step took, in microseconds.
   */
  'duration_us': (string);
  /**
   * PRE_DUMP_ROUND: the round (1, 2, ...) and the pages it wrote.
   */
  'round': (number);
  'pages_written': (string);
  /**
   * Set on the last event only (step DONE).
   */
  'result': (_criu_agent_v1_MigrateResult__Output | null);
}
