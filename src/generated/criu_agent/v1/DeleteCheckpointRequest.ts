// Original file: proto/criu_agent/v1/agent.proto


export interface DeleteCheckpointRequest {
  'checkpoint_id'?: (string);
  /**
   * Also delete the checkpoints built on this one, and theirs.
   */
  'cascade'?: (boolean);
}

export interface DeleteCheckpointRequest__Output {
  'checkpoint_id': (string);
  /**
   * Also delete the checkpoints built on this one, and theirs.
   */
  'cascade': (boolean);
}
