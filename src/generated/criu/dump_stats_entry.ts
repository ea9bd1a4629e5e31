// Original file: proto/criu/stats.proto

import type { Long } from '@grpc/proto-loader';

export interface dump_stats_entry {
  'freezing_time'?: (number);
  'frozen_time'?: (number);
  'memdump_time'?: (number);
  'memwrite_time'?: (number);
  'pages_scanned'?: (number | string | Long);
  'pages_skipped_parent'?: (number | string | Long);
  'pages_written'?: (number | string | Long);
  'irmap_resolve'?: (number);
  'pages_lazy'?: (number | string | Long);
  'page_pipes'?: (number | string | Long);
  'page_pipe_bufs'?: (number | string | Long);
  /**
   * Pages of shared memory (shmem), which CRIU counts apart from the private pages above.
   */
  'shpages_scanned'?: (number | string | Long);
  'shpages_skipped_parent'?: (number | string | Long);
  'shpages_written'?: (number | string | Long);
}

export interface dump_stats_entry__Output {
  'freezing_time': (number);
  'frozen_time': (number);
  'memdump_time': (number);
  'memwrite_time': (number);
  'pages_scanned': (string);
  'pages_skipped_parent': (string);
  'pages_written': (string);
  'irmap_resolve': (number);
  'pages_lazy': (string);
  'page_pipes': (string);
  'page_pipe_bufs': (string);
  /**
   * Pages of shared memory (shmem), which CRIU counts apart from the private pages above.
   */
  'shpages_scanned': (string);
  'shpages_skipped_parent': (string);
  'shpages_written': (string);
}
