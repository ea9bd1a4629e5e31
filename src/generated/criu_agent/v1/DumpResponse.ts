// Original file: proto/criu_agent/v1/agent.proto

import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { DumpStats as _criu_agent_v1_DumpStats, DumpStats__Output as _criu_agent_v1_DumpStats__Output } from '../../criu_agent/v1/DumpStats';
import type { GpuProcessStats as _criu_agent_v1_GpuProcessStats, GpuProcessStats__Output as _criu_agent_v1_GpuProcessStats__Output } from '../../criu_agent/v1/GpuProcessStats';
import type { Long } from '@grpc/proto-loader';

export interface DumpResponse {
  'checkpoint_id'?: (string);
  /**
   * The state the tree was left in, as checked in /proc after CRIU finished.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  /**
   * Where the checkpoint's images are on this node.
   */
  'images_dir'?: (string);
  /**
   * Every process that was checkpointed, root first.
   */
  'pids'?: (number)[];
  /**
   * CRIU's log of this dump, on this node.
   */
  'log_path'?: (string);
  /**
   * CRIU's statistics of this dump.
   */
  'stats'?: (_criu_agent_v1_DumpStats | null);
  /**
   * Bytes the checkpoint's files take (without its parents).
   */
  'size_bytes'?: (number | string | Long);
  /**
   * What the agent did to each process of the tree that held CUDA state;
   * empty for a tree without GPU processes.
   */
  'gpu'?: (_criu_agent_v1_GpuProcessStats)[];
}

export interface DumpResponse__Output {
  'checkpoint_id': (string);
  /**
   * The state the tree was left in, as checked in /proc after CRIU finished.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  /**
   * Where the checkpoint's images are on this node.
   */
  'images_dir': (string);
  /**
   * Every process that was checkpointed, root first.
   */
  'pids': (number)[];
  /**
   * CRIU's log of this dump, on this node.
   */
  'log_path': (string);
  /**
   * CRIU's statistics of this dump.
   */
  'stats': (_criu_agent_v1_DumpStats__Output | null);
  /**
   * Bytes the checkpoint's files take (without its parents).
   */
  'size_bytes': (string);
  /**
   * What the agent did to each process of the tree that held CUDA state;
   * empty for a tree without GPU processes.
   */
  'gpu': (_criu_agent_v1_GpuProcessStats__Output)[];
}
