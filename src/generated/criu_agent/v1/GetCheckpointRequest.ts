// Original file: proto/criu_agent/v1/agent.proto


export interface GetCheckpointRequest {
  'checkpoint_id'?: (string);
}

export interface GetCheckpointRequest__Output {
  'checkpoint_id': (string);
}
