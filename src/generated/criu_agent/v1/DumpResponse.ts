// Original file: proto/criu_agent/v1/agent.proto

import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';

export interface DumpResponse {
  'checkpoint_id'?: (string);
  /**
   * The state the tree was left in, as checked in /proc after CRIU finished.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  /**
   * Where the checkpoint's images are on this node.
   */
  'images_dir'?: (string);
  /**
   * Every process that was checkpointed, root first.
   */
  'pids'?: (number)[];
  /**
   * CRIU's log of this dump, on this node.
   */
  'log_path'?: (string);
}

export interface DumpResponse__Output {
  'checkpoint_id': (string);
  /**
   * The state the tree was left in, as checked in /proc after CRIU finished.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  /**
   * Where the checkpoint's images are on this node.
   */
  'images_dir': (string);
  /**
   * Every process that was checkpointed, root first.
   */
  'pids': (number)[];
  /**
   * CRIU's log of this dump, on this node.
   */
  'log_path': (string);
}
