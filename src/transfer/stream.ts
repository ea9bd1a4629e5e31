import type { CheckpointRecord } from '../store';

/**
 * One item of a checkpoint stream, as the reader produces it and the writer
 * takes it: for each checkpoint (parents first) its manifest, then the bytes
 * of its regular files, in manifest order, each file from offset 0 without
 * gaps. The same stream backs ExportCheckpoint, ImportCheckpoint and Migrate.
 */
export type TransferItem =
  | { kind: 'manifest'; record: CheckpointRecord }
  | { kind: 'data'; path: string; offset: number; bytes: Buffer };

/**
 * Bytes per data item: under the agent's 1 MiB gRPC message limit with room
 * to spare, and large enough that per-message costs stay small.
 */
export const CHUNK_BYTES = 512 * 1024;
