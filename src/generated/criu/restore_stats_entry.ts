// Original file: proto/criu/stats.proto

import type { Long } from '@grpc/proto-loader';

export interface restore_stats_entry {
  'pages_compared'?: (number | string | Long);
  'pages_skipped_cow'?: (number | string | Long);
  'forking_time'?: (number);
  'restore_time'?: (number);
  'pages_restored'?: (number | string | Long);
}

export interface restore_stats_entry__Output {
  'pages_compared': (string);
  'pages_skipped_cow': (string);
  'forking_time': (number);
  'restore_time': (number);
  'pages_restored': (string);
}
