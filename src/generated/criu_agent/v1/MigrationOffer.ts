// Original file: proto/criu_agent/v1/agent.proto

import type { MigrateMode as _criu_agent_v1_MigrateMode, MigrateMode__Output as _criu_agent_v1_MigrateMode__Output } from '../../criu_agent/v1/MigrateMode';
import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { RestoreOptions as _criu_agent_v1_RestoreOptions, RestoreOptions__Output as _criu_agent_v1_RestoreOptions__Output } from '../../criu_agent/v1/RestoreOptions';
import type { Long } from '@grpc/proto-loader';

/**
 * The source's offer: what the destination checks before anything is frozen.
 */
export interface MigrationOffer {
  'checkpoint_id'?: (string);
  'mode'?: (_criu_agent_v1_MigrateMode);
  /**
   * The tree on the source: root and every pid (restored with the same pids).
   */
  'pid'?: (number);
  'pids'?: (number)[];
  /**
   * The source's CRIU version, e.g. "4.2.1".
   */
  'criu_version'?: (string);
  /**
   * The source CPU as CRIU's cpuinfo dump image (cpuinfo.img), checked on the
   * destination with CRIU's cpuinfo check.
   */
  'cpuinfo'?: (Buffer | Uint8Array | string);
  /**
   * The tree's memory, estimated: the space the destination needs.
   */
  'memory_bytes'?: (number | string | Long);
  /**
   * The state the tree must end in on the destination: RUNNING or STOPPED.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  'restore_options'?: (_criu_agent_v1_RestoreOptions | null);
}

/**
 * The source's offer: what the destination checks before anything is frozen.
 */
export interface MigrationOffer__Output {
  'checkpoint_id': (string);
  'mode': (_criu_agent_v1_MigrateMode__Output);
  /**
   * The tree on the source: root and every pid (restored with the same pids).
   */
  'pid': (number);
  'pids': (number)[];
  /**
   * The source's CRIU version, e.g. "4.2.1".
   */
  'criu_version': (string);
  /**
   * The source CPU as CRIU's cpuinfo dump image (cpuinfo.img), checked on the
   * destination with CRIU's cpuinfo check.
   */
  'cpuinfo': (Buffer);
  /**
   * The tree's memory, estimated: the space the destination needs.
   */
  'memory_bytes': (string);
  /**
   * The state the tree must end in on the destination: RUNNING or STOPPED.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  'restore_options': (_criu_agent_v1_RestoreOptions__Output | null);
}
