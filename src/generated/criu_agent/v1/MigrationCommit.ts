// Original file: proto/criu_agent/v1/agent.proto


export interface MigrationCommit {
}

export interface MigrationCommit__Output {
}
