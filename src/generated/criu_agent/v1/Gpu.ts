// Original file: proto/criu_agent/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

/**
 * One GPU the driver lists.
 */
export interface Gpu {
  'index'?: (number);
  'name'?: (string);
  /**
   * 32 hex digits (nvidia-smi prints it as GPU-xxxxxxxx-...).
   */
  'uuid'?: (string);
  'memory_bytes'?: (number | string | Long);
}

/**
 * One GPU the driver lists.
 */
export interface Gpu__Output {
  'index': (number);
  'name': (string);
  /**
   * 32 hex digits (nvidia-smi prints it as GPU-xxxxxxxx-...).
   */
  'uuid': (string);
  'memory_bytes': (string);
}
