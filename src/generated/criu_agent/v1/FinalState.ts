// Original file: proto/criu_agent/v1/agent.proto

/**
 * The state a process tree is left in when an operation ends.
 */
export const FinalState = {
  /**
   * Not set: the operation's default (Dump: DEAD, Restore: RUNNING,
   * PreDump: RUNNING).
   */
  FINAL_STATE_UNSPECIFIED: 'FINAL_STATE_UNSPECIFIED',
  /**
   * The processes run as usual.
   */
  FINAL_STATE_RUNNING: 'FINAL_STATE_RUNNING',
  /**
   * Every process is stopped with SIGSTOP; Continue resumes them.
   */
  FINAL_STATE_STOPPED: 'FINAL_STATE_STOPPED',
  /**
   * Every process is killed with SIGKILL.
   */
  FINAL_STATE_DEAD: 'FINAL_STATE_DEAD',
} as const;

/**
 * The state a process tree is left in when an operation ends.
 */
export type FinalState =
  /**
   * Not set: the operation's default (Dump: DEAD, Restore: RUNNING,
   * PreDump: RUNNING).
   */
  | 'FINAL_STATE_UNSPECIFIED'
  | 0
  /**
   * The processes run as usual.
   */
  | 'FINAL_STATE_RUNNING'
  | 1
  /**
   * Every process is stopped with SIGSTOP; Continue resumes them.
   */
  | 'FINAL_STATE_STOPPED'
  | 2
  /**
   * Every process is killed with SIGKILL.
   */
  | 'FINAL_STATE_DEAD'
  | 3

/**
 * The state a process tree is left in when an operation ends.
 */
export type FinalState__Output = typeof FinalState[keyof typeof FinalState]
