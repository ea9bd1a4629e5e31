// Original file: proto/criu_agent/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

/**
 * A piece of one file of a checkpoint.
 */
export interface FileData {
  /**
   * ManifestFile.path of the file.
   */
  'path'?: (string);
  /**
   * Where `data` starts in the file: each file's chunks follow each other
   * without gaps, starting at 0.
   */
  'offset'?: (number | string | Long);
  /**
   * At most 512 KiB.
   */
  'data'?: (Buffer | Uint8Array | string);
}

/**
 * A piece of one file of a checkpoint.
 */
export interface FileData__Output {
  /**
   * ManifestFile.path of the file.
   */
  'path': (string);
  /**
   * Where `data` starts in the file: each file's chunks follow each other
   * without gaps, starting at 0.
   */
  'offset': (string);
  /**
   * At most 512 KiB.
   */
  'data': (Buffer);
}
