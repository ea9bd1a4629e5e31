// Original file: proto/criu_agent/v1/agent.proto


export interface ContinueRequest {
  /**
   * Root of a stopped tree to resume.
   */
  'pid'?: (number);
}

export interface ContinueRequest__Output {
  /**
   * Root of a stopped tree to resume.
   */
  'pid': (number);
}
