// Original file: proto/criu_agent/v1/agent.proto


export interface ContinueResponse {
  /**
   * Every process that was sent SIGCONT, root first.
   */
  'pids'?: (number)[];
}

export interface ContinueResponse__Output {
  /**
   * Every process that was sent SIGCONT, root first.
   */
  'pids': (number)[];
}
