// Original file: proto/criu_agent/v1/agent.proto

import type { GpuProcessStats as _criu_agent_v1_GpuProcessStats, GpuProcessStats__Output as _criu_agent_v1_GpuProcessStats__Output } from '../../criu_agent/v1/GpuProcessStats';

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
  /**
   * GPU processes whose GPU state a STOPPED Dump or Restore had left in host
   * memory, given back after SIGCONT.
   */
  'gpu'?: (_criu_agent_v1_GpuProcessStats)[];
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
  /**
   * GPU processes whose GPU state a STOPPED Dump or Restore had left in host
   * memory, given back after SIGCONT.
   */
  'gpu': (_criu_agent_v1_GpuProcessStats__Output)[];
}
