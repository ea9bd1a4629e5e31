// Original file: proto/criu_agent/v1/agent.proto

import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { DumpOptions as _criu_agent_v1_DumpOptions, DumpOptions__Output as _criu_agent_v1_DumpOptions__Output } from '../../criu_agent/v1/DumpOptions';

export interface DumpRequest {
  /**
   * Root of the tree to checkpoint: it and all its descendants are saved.
   */
  'pid'?: (number);
  /**
   * Name of the new checkpoint: 1-128 characters of [A-Za-z0-9._-], not
   * starting with '.' or '-'. Must not exist yet.
   */
  'checkpoint_id'?: (string);
  /**
   * The state the tree is left in. Unset: DEAD.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  /**
   * A PreDump checkpoint of the same tree to build on: pages it saved and the
   * tree did not change since are not written again. Empty: a full dump.
   */
  'parent_checkpoint_id'?: (string);
  'options'?: (_criu_agent_v1_DumpOptions | null);
}

export interface DumpRequest__Output {
  /**
   * Root of the tree to checkpoint: it and all its descendants are saved.
   */
  'pid': (number);
  /**
   * Name of the new checkpoint: 1-128 characters of [A-Za-z0-9._-], not
   * starting with '.' or '-'. Must not exist yet.
   */
  'checkpoint_id': (string);
  /**
   * The state the tree is left in. Unset: DEAD.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  /**
   * A PreDump checkpoint of the same tree to build on: pages it saved and the
   * tree did not change since are not written again. Empty: a full dump.
   */
  'parent_checkpoint_id': (string);
  'options': (_criu_agent_v1_DumpOptions__Output | null);
}
