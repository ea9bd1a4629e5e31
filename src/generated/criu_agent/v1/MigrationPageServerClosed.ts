// Original file: proto/criu_agent/v1/agent.proto


export interface MigrationPageServerClosed {
  /**
   * Why the page server failed, from its log (or, when its log holds no
   * error, the destination's free space if its disk is full); empty when
   * nothing went wrong that the destination can see.
   */
  'error'?: (string);
  /**
   * The destination's state directory had no room left (ENOSPC): a failed
   * dump is then answered RESOURCE_EXHAUSTED.
   */
  'no_space'?: (boolean);
}

export interface MigrationPageServerClosed__Output {
  /**
   * Why the page server failed, from its log (or, when its log holds no
   * error, the destination's free space if its disk is full); empty when
   * nothing went wrong that the destination can see.
   */
  'error': (string);
  /**
   * The destination's state directory had no room left (ENOSPC): a failed
   * dump is then answered RESOURCE_EXHAUSTED.
   */
  'no_space': (boolean);
}
