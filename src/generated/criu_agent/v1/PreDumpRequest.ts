// Original file: proto/criu_agent/v1/agent.proto

import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { DumpOptions as _criu_agent_v1_DumpOptions, DumpOptions__Output as _criu_agent_v1_DumpOptions__Output } from '../../criu_agent/v1/DumpOptions';

export interface PreDumpRequest {
  /**
   * Root of the tree to pre-dump; it keeps running.
   */
  'pid'?: (number);
  /**
   * Name of the new checkpoint (same rules as DumpRequest.checkpoint_id).
   */
  'checkpoint_id'?: (string);
  /**
   * A previous PreDump of the same tree to chain onto. Empty: the first one.
   */
  'parent_checkpoint_id'?: (string);
  /**
   * Accepted and ignored: a pre-dump always leaves the tree RUNNING, as CRIU
   * does (PreDumpResponse.final_state_ignored says so).
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  'options'?: (_criu_agent_v1_DumpOptions | null);
}

export interface PreDumpRequest__Output {
  /**
   * Root of the tree to pre-dump; it keeps running.
   */
  'pid': (number);
  /**
   * Name of the new checkpoint (same rules as DumpRequest.checkpoint_id).
   */
  'checkpoint_id': (string);
  /**
   * A previous PreDump of the same tree to chain onto. Empty: the first one.
   */
  'parent_checkpoint_id': (string);
  /**
   * Accepted and ignored: a pre-dump always leaves the tree RUNNING, as CRIU
   * does (PreDumpResponse.final_state_ignored says so).
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  'options': (_criu_agent_v1_DumpOptions__Output | null);
}
