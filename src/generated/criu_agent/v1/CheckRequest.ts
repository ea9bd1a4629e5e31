// Original file: proto/criu_agent/v1/agent.proto


export interface CheckRequest {
}

export interface CheckRequest__Output {
}
