import type { CheckpointRecord } from '../store';

/**
 * One item of a checkpoint byte stream: a checkpoint's manifest, then its
 * regular files' bytes in manifest order, parents first.
 *
 * TEMPORARY seam: this is the shape of src/transfer's TransferItem (issue
 * #13's one reader and one verifying writer, not merged into this branch
 * yet). When it is, this file becomes a re-export of src/transfer and
 * `transferStream` below wires its checkpointChain, readCheckpoints and
 * TransferService.receive.
 */
export type TransferItem =
  | { kind: 'manifest'; record: CheckpointRecord }
  | { kind: 'data'; path: string; offset: number; bytes: Buffer };

/** What the registry service needs from the one checkpoint stream. */
export interface CheckpointStream {
  /** The checkpoint and the pre-dumps it builds on, oldest first; NOT_FOUND / DATA_LOSS. */
  chain(id: string): Promise<CheckpointRecord[]>;
  /** Manifests and file bytes of these checkpoints; each file checked against its xxh64 as it is read. */
  read(chain: readonly CheckpointRecord[], signal?: AbortSignal): AsyncIterable<TransferItem>;
  /** Writes a stream into the store, verifying every file, listing all of it or nothing. */
  receive(items: AsyncIterable<TransferItem>, signal?: AbortSignal, requestId?: string): Promise<CheckpointRecord[]>;
}
