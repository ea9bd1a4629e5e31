// Original file: proto/criu_agent/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The driver's checkpoint steps for one process of a GPU tree. Times in
 * microseconds; zero when the step did not run.
 */
export interface GpuProcessStats {
  'pid'?: (number);
  'lock_time_us'?: (number | string | Long);
  'checkpoint_time_us'?: (number | string | Long);
  'restore_time_us'?: (number | string | Long);
  'unlock_time_us'?: (number | string | Long);
  /**
   * GPU state moved to host memory by Checkpoint (the growth of the
   * process's resident memory across it).
   */
  'checkpoint_bytes'?: (number | string | Long);
}

/**
 * The driver's checkpoint steps for one process of a GPU tree. Times in
 * microseconds; zero when the step did not run.
 */
export interface GpuProcessStats__Output {
  'pid': (number);
  'lock_time_us': (string);
  'checkpoint_time_us': (string);
  'restore_time_us': (string);
  'unlock_time_us': (string);
  /**
   * GPU state moved to host memory by Checkpoint (the growth of the
   * process's resident memory across it).
   */
  'checkpoint_bytes': (string);
}
