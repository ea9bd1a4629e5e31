// Original file: proto/criu_agent/v1/agent.proto

import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { RestoreOptions as _criu_agent_v1_RestoreOptions, RestoreOptions__Output as _criu_agent_v1_RestoreOptions__Output } from '../../criu_agent/v1/RestoreOptions';

export interface RestoreRequest {
  /**
   * A checkpoint made by Dump (a PreDump alone cannot be restored). With
   * image_reference: the local id to pull into (default as in
   * PullCheckpointRequest.checkpoint_id).
   */
  'checkpoint_id'?: (string);
  /**
   * RUNNING (the default) or STOPPED; DEAD is INVALID_ARGUMENT.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  'options'?: (_criu_agent_v1_RestoreOptions | null);
  /**
   * A checkpoint image in an OCI registry (as PullCheckpointRequest.reference)
   * to restore: pulled first unless a checkpoint with the same files is
   * already here under that id.
   */
  'image_reference'?: (string);
}

export interface RestoreRequest__Output {
  /**
   * A checkpoint made by Dump (a PreDump alone cannot be restored). With
   * image_reference: the local id to pull into (default as in
   * PullCheckpointRequest.checkpoint_id).
   */
  'checkpoint_id': (string);
  /**
   * RUNNING (the default) or STOPPED; DEAD is INVALID_ARGUMENT.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  'options': (_criu_agent_v1_RestoreOptions__Output | null);
  /**
   * A checkpoint image in an OCI registry (as PullCheckpointRequest.reference)
   * to restore: pulled first unless a checkpoint with the same files is
   * already here under that id.
   */
  'image_reference': (string);
}
