// Original file: proto/criu_agent/v1/agent.proto


export interface DeleteCheckpointResponse {
  /**
   * Every checkpoint deleted, children before their parents.
   */
  'deleted'?: (string)[];
}

export interface DeleteCheckpointResponse__Output {
  /**
   * Every checkpoint deleted, children before their parents.
   */
  'deleted': (string)[];
}
