// Original file: proto/criu_agent/v1/agent.proto

import type { GpuCheck as _criu_agent_v1_GpuCheck, GpuCheck__Output as _criu_agent_v1_GpuCheck__Output } from '../../criu_agent/v1/GpuCheck';

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
  /**
   * NVIDIA's driver on this node and its CUDA checkpoint API.
   */
  'gpu'?: (_criu_agent_v1_GpuCheck | null);
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
  /**
   * NVIDIA's driver on this node and its CUDA checkpoint API.
   */
  'gpu': (_criu_agent_v1_GpuCheck__Output | null);
}
