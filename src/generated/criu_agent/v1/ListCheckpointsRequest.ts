// Original file: proto/criu_agent/v1/agent.proto


export interface ListCheckpointsRequest {
}

export interface ListCheckpointsRequest__Output {
}
