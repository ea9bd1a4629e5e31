// Original file: proto/criu_agent/v1/agent.proto


export interface MigrationRestore {
}

export interface MigrationRestore__Output {
}
