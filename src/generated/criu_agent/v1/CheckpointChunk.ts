// Original file: proto/criu_agent/v1/agent.proto

import type { CheckpointManifest as _criu_agent_v1_CheckpointManifest, CheckpointManifest__Output as _criu_agent_v1_CheckpointManifest__Output } from '../../criu_agent/v1/CheckpointManifest';
import type { FileData as _criu_agent_v1_FileData, FileData__Output as _criu_agent_v1_FileData__Output } from '../../criu_agent/v1/FileData';

/**
 * One message of a checkpoint stream (ExportCheckpoint, ImportCheckpoint).
 * A stream is, for each checkpoint in it (parents before the checkpoints
 * built on them): one `manifest`, then `data` chunks of its files in the
 * manifest's order, each file's chunks in order of offset. Symlinks and empty
 * files have no data chunks.
 */
export interface CheckpointChunk {
  /**
   * Starts the next checkpoint of the stream.
   */
  'manifest'?: (_criu_agent_v1_CheckpointManifest | null);
  /**
   * Bytes of one file of the checkpoint the last manifest started.
   */
  'data'?: (_criu_agent_v1_FileData | null);
  'chunk'?: "manifest"|"data";
}

/**
 * One message of a checkpoint stream (ExportCheckpoint, ImportCheckpoint).
 * A stream is, for each checkpoint in it (parents before the checkpoints
 * built on them): one `manifest`, then `data` chunks of its files in the
 * manifest's order, each file's chunks in order of offset. Symlinks and empty
 * files have no data chunks.
 */
export interface CheckpointChunk__Output {
  /**
   * Starts the next checkpoint of the stream.
   */
  'manifest'?: (_criu_agent_v1_CheckpointManifest__Output | null);
  /**
   * Bytes of one file of the checkpoint the last manifest started.
   */
  'data'?: (_criu_agent_v1_FileData__Output | null);
  'chunk'?: "manifest"|"data";
}
