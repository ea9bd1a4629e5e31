// Original file: proto/criu_agent/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

/**
 * CRIU's statistics of a dump or pre-dump (its stats-dump image). Times are
 * in microseconds; pages are 4 KiB.
 */
export interface DumpStats {
  /**
   * Time to freeze the tree.
   */
  'freezing_time_us'?: (number | string | Long);
  /**
   * Time the tree stayed frozen: what the workload felt.
   */
  'frozen_time_us'?: (number | string | Long);
  /**
   * Time to collect the memory, and to write it out.
   */
  'memdump_time_us'?: (number | string | Long);
  'memwrite_time_us'?: (number | string | Long);
  /**
   * Pages looked at, skipped because the parent checkpoint has them
   * unchanged, and written.
   */
  'pages_scanned'?: (number | string | Long);
  'pages_skipped_parent'?: (number | string | Long);
  'pages_written'?: (number | string | Long);
  /**
   * Pages left for lazy restore.
   */
  'pages_lazy'?: (number | string | Long);
}

/**
 * CRIU's statistics of a dump or pre-dump (its stats-dump image). Times are
 * in microseconds; pages are 4 KiB.
 */
export interface DumpStats__Output {
  /**
   * Time to freeze the tree.
   */
  'freezing_time_us': (string);
  /**
   * Time the tree stayed frozen: what the workload felt.
   */
  'frozen_time_us': (string);
  /**
   * Time to collect the memory, and to write it out.
   */
  'memdump_time_us': (string);
  'memwrite_time_us': (string);
  /**
   * Pages looked at, skipped because the parent checkpoint has them
   * unchanged, and written.
   */
  'pages_scanned': (string);
  'pages_skipped_parent': (string);
  'pages_written': (string);
  /**
   * Pages left for lazy restore.
   */
  'pages_lazy': (string);
}
