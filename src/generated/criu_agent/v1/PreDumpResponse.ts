// Original file: proto/criu_agent/v1/agent.proto

import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';

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
}
