// Original file: proto/criu_agent/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

/**
 * One file of a checkpoint.
 */
export interface ManifestFile {
  /**
   * Relative to the checkpoint's directory, '/'-separated.
   */
  'path'?: (string);
  /**
   * Bytes of a regular file (for a symlink: of its target).
   */
  'size'?: (number | string | Long);
  /**
   * XXH64 (seed 0) of a regular file's bytes, 16 lowercase hex digits
   * (Checkpoint.digest_algorithm "xxh64"); empty for a symlink.
   */
  'xxh64'?: (string);
  /**
   * A symlink's target; empty for a regular file.
   */
  'symlink'?: (string);
}

/**
 * One file of a checkpoint.
 */
export interface ManifestFile__Output {
  /**
   * Relative to the checkpoint's directory, '/'-separated.
   */
  'path': (string);
  /**
   * Bytes of a regular file (for a symlink: of its target).
   */
  'size': (string);
  /**
   * XXH64 (seed 0) of a regular file's bytes, 16 lowercase hex digits
   * (Checkpoint.digest_algorithm "xxh64"); empty for a symlink.
   */
  'xxh64': (string);
  /**
   * A symlink's target; empty for a regular file.
   */
  'symlink': (string);
}
