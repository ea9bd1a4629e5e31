// Original file: proto/criu_agent/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface PushCheckpointResponse {
  /**
   * The image manifest's digest ("sha256:..."): `<repository>@<digest>` pulls exactly this.
   */
  'digest'?: (string);
  /**
   * Bytes sent: the blobs the registry lacked, the config and the manifest.
   */
  'bytes_uploaded'?: (number | string | Long);
  /**
   * Bytes of files the registry already had (from an earlier push of a
   * parent, or another node), not sent again.
   */
  'bytes_skipped'?: (number | string | Long);
  /**
   * The reference pushed to, normalized (registry/repository:tag).
   */
  'reference'?: (string);
}

export interface PushCheckpointResponse__Output {
  /**
   * The image manifest's digest ("sha256:..."): `<repository>@<digest>` pulls exactly this.
   */
  'digest': (string);
  /**
   * Bytes sent: the blobs the registry lacked, the config and the manifest.
   */
  'bytes_uploaded': (string);
  /**
   * Bytes of files the registry already had (from an earlier push of a
   * parent, or another node), not sent again.
   */
  'bytes_skipped': (string);
  /**
   * The reference pushed to, normalized (registry/repository:tag).
   */
  'reference': (string);
}
