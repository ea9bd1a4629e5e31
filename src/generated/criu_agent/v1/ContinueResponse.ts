// Original file: proto/criu_agent/v1/agent.proto


export interface ContinueResponse {
  /**
   * Every process that was sent SIGCONT, root first.
   */
  'pids'?: (number)[];
  /**
   * What left the tree stopped when it was this agent, e.g. "dump into
   * checkpoint web-1" (remembered across agent restarts); empty when
   * something else stopped it.
   */
  'stopped_by'?: (string);
}

export interface ContinueResponse__Output {
  /**
   * Every process that was sent SIGCONT, root first.
   */
  'pids': (number)[];
  /**
   * What left the tree stopped when it was this agent, e.g. "dump into
   * checkpoint web-1" (remembered across agent restarts); empty when
   * something else stopped it.
   */
  'stopped_by': (string);
}
