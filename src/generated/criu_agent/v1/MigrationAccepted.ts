// Original file: proto/criu_agent/v1/agent.proto


export interface MigrationAccepted {
  'criu_version'?: (string);
  'kernel'?: (string);
}

export interface MigrationAccepted__Output {
  'criu_version': (string);
  'kernel': (string);
}
