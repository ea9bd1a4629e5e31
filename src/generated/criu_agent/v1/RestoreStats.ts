// Original file: proto/criu_agent/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

/**
 * CRIU's statistics of a restore (its stats-restore). Times in microseconds.
 */
export interface RestoreStats {
  'pages_compared'?: (number | string | Long);
  'pages_skipped_cow'?: (number | string | Long);
  'forking_time_us'?: (number | string | Long);
  'restore_time_us'?: (number | string | Long);
  'pages_restored'?: (number | string | Long);
}

/**
 * CRIU's statistics of a restore (its stats-restore). Times in microseconds.
 */
export interface RestoreStats__Output {
  'pages_compared': (string);
  'pages_skipped_cow': (string);
  'forking_time_us': (string);
  'restore_time_us': (string);
  'pages_restored': (string);
}
