// Original file: proto/criu_agent/v1/agent.proto

import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { RestoreStats as _criu_agent_v1_RestoreStats, RestoreStats__Output as _criu_agent_v1_RestoreStats__Output } from '../../criu_agent/v1/RestoreStats';
import type { GpuProcessStats as _criu_agent_v1_GpuProcessStats, GpuProcessStats__Output as _criu_agent_v1_GpuProcessStats__Output } from '../../criu_agent/v1/GpuProcessStats';

export interface RestoreResponse {
  /**
   * Pid of the restored root (the same as when it was dumped).
   */
  'pid'?: (number);
  /**
   * The state the tree was left in, as checked in /proc after CRIU finished.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  'checkpoint_id'?: (string);
  /**
   * Every restored process, root first.
   */
  'pids'?: (number)[];
  /**
   * CRIU's log of this restore, on this node.
   */
  'log_path'?: (string);
  /**
   * CRIU's statistics of this restore.
   */
  'stats'?: (_criu_agent_v1_RestoreStats | null);
  /**
   * The GPU processes given their GPU state back (Restore and Unlock); empty
   * when the tree holds none, or when it was left STOPPED (Continue does it).
   */
  'gpu'?: (_criu_agent_v1_GpuProcessStats)[];
}

export interface RestoreResponse__Output {
  /**
   * Pid of the restored root (the same as when it was dumped).
   */
  'pid': (number);
  /**
   * The state the tree was left in, as checked in /proc after CRIU finished.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  'checkpoint_id': (string);
  /**
   * Every restored process, root first.
   */
  'pids': (number)[];
  /**
   * CRIU's log of this restore, on this node.
   */
  'log_path': (string);
  /**
   * CRIU's statistics of this restore.
   */
  'stats': (_criu_agent_v1_RestoreStats__Output | null);
  /**
   * The GPU processes given their GPU state back (Restore and Unlock); empty
   * when the tree holds none, or when it was left STOPPED (Continue does it).
   */
  'gpu': (_criu_agent_v1_GpuProcessStats__Output)[];
}
