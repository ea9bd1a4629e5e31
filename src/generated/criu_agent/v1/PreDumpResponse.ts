// Original file: proto/criu_agent/v1/agent.proto

import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { DumpStats as _criu_agent_v1_DumpStats, DumpStats__Output as _criu_agent_v1_DumpStats__Output } from '../../criu_agent/v1/DumpStats';
import type { Long } from '@grpc/proto-loader';

export interface PreDumpResponse {
  'checkpoint_id'?: (string);
  /**
   * Always RUNNING.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  /**
   * True when the request asked for STOPPED or DEAD: it was ignored, and the
   * tree was left RUNNING.
   */
  'final_state_ignored'?: (boolean);
  'images_dir'?: (string);
  'pids'?: (number)[];
  'log_path'?: (string);
  /**
   * CRIU's statistics of this pre-dump: pages_written says how much memory
   * changed since the parent, which tells whether another round is worth it.
   */
  'stats'?: (_criu_agent_v1_DumpStats | null);
  'size_bytes'?: (number | string | Long);
}

export interface PreDumpResponse__Output {
  'checkpoint_id': (string);
  /**
   * Always RUNNING.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  /**
   * True when the request asked for STOPPED or DEAD: it was ignored, and the
   * tree was left RUNNING.
   */
  'final_state_ignored': (boolean);
  'images_dir': (string);
  'pids': (number)[];
  'log_path': (string);
  /**
   * CRIU's statistics of this pre-dump: pages_written says how much memory
   * changed since the parent, which tells whether another round is worth it.
   */
  'stats': (_criu_agent_v1_DumpStats__Output | null);
  'size_bytes': (string);
}
