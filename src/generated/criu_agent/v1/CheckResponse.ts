// Original file: proto/criu_agent/v1/agent.proto


export interface CheckResponse {
  /**
   * CRIU's version, e.g. "4.2.1".
   */
  'criu_version'?: (string);
  /**
   * How the agent reaches CRIU, e.g. "criu swrk (/usr/local/sbin/criu)".
   */
  'criu_transport'?: (string);
  /**
   * The running kernel's release.
   */
  'kernel'?: (string);
  /**
   * Kernel memory tracking (soft-dirty): PreDump works only with it.
   */
  'mem_track'?: (boolean);
  /**
   * userfaultfd-based lazy restore.
   */
  'lazy_pages'?: (boolean);
  /**
   * pidfd store (pid reuse detection across pre-dumps).
   */
  'pidfd_store'?: (boolean);
}

export interface CheckResponse__Output {
  /**
   * CRIU's version, e.g. "4.2.1".
   */
  'criu_version': (string);
  /**
   * How the agent reaches CRIU, e.g. "criu swrk (/usr/local/sbin/criu)".
   */
  'criu_transport': (string);
  /**
   * The running kernel's release.
   */
  'kernel': (string);
  /**
   * Kernel memory tracking (soft-dirty): PreDump works only with it.
   */
  'mem_track': (boolean);
  /**
   * userfaultfd-based lazy restore.
   */
  'lazy_pages': (boolean);
  /**
   * pidfd store (pid reuse detection across pre-dumps).
   */
  'pidfd_store': (boolean);
}
