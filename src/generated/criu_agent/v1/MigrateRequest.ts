// Original file: proto/criu_agent/v1/agent.proto

import type { MigrateMode as _criu_agent_v1_MigrateMode, MigrateMode__Output as _criu_agent_v1_MigrateMode__Output } from '../../criu_agent/v1/MigrateMode';
import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { DumpOptions as _criu_agent_v1_DumpOptions, DumpOptions__Output as _criu_agent_v1_DumpOptions__Output } from '../../criu_agent/v1/DumpOptions';
import type { RestoreOptions as _criu_agent_v1_RestoreOptions, RestoreOptions__Output as _criu_agent_v1_RestoreOptions__Output } from '../../criu_agent/v1/RestoreOptions';

export interface MigrateRequest {
  /**
   * Root of the tree to move (on the source, the agent called).
   */
  'pid'?: (number);
  /**
   * The destination agent: "host:port" or "unix:/path" (a unix socket path
   * this agent can reach).
   */
  'destination'?: (string);
  /**
   * The id the checkpoint gets (same rules as DumpRequest.checkpoint_id);
   * empty: "migrate-<pid>-<time>". It must not exist on the destination.
   */
  'checkpoint_id'?: (string);
  'mode'?: (_criu_agent_v1_MigrateMode);
  /**
   * PRE_COPY: the most pre-dump rounds before the final dump; 0: 5.
   */
  'max_pre_dump_rounds'?: (number);
  /**
   * The state of the tree on the destination: RUNNING (the default) or
   * STOPPED; DEAD is INVALID_ARGUMENT.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  /**
   * CRIU options of the dump on the source.
   */
  'options'?: (_criu_agent_v1_DumpOptions | null);
  /**
   * CRIU options of the restore on the destination.
   */
  'restore_options'?: (_criu_agent_v1_RestoreOptions | null);
}

export interface MigrateRequest__Output {
  /**
   * Root of the tree to move (on the source, the agent called).
   */
  'pid': (number);
  /**
   * The destination agent: "host:port" or "unix:/path" (a unix socket path
   * this agent can reach).
   */
  'destination': (string);
  /**
   * The id the checkpoint gets (same rules as DumpRequest.checkpoint_id);
   * empty: "migrate-<pid>-<time>". It must not exist on the destination.
   */
  'checkpoint_id': (string);
  'mode': (_criu_agent_v1_MigrateMode__Output);
  /**
   * PRE_COPY: the most pre-dump rounds before the final dump; 0: 5.
   */
  'max_pre_dump_rounds': (number);
  /**
   * The state of the tree on the destination: RUNNING (the default) or
   * STOPPED; DEAD is INVALID_ARGUMENT.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  /**
   * CRIU options of the dump on the source.
   */
  'options': (_criu_agent_v1_DumpOptions__Output | null);
  /**
   * CRIU options of the restore on the destination.
   */
  'restore_options': (_criu_agent_v1_RestoreOptions__Output | null);
}
