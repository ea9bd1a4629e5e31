import type { CheckpointRecord, CheckpointStore } from '../store';
import { checkpointChain, readCheckpoints, type TransferItem } from '../transfer';
import type { TransferService } from './transfer';

export type { TransferItem } from '../transfer';

/**
 * What the registry service needs from the one checkpoint stream (STYLE.md
 * point 13): src/transfer's reader, and TransferService.receive, which
 * drives its verifying writer under the checkpoints' locks.
 */
export interface CheckpointStream {
  /** The checkpoint and the pre-dumps it builds on, oldest first; NOT_FOUND / DATA_LOSS. */
  chain(id: string): Promise<CheckpointRecord[]>;
  /** Manifests and file bytes of these checkpoints; each file checked against its xxh64 as it is read. */
  read(chain: readonly CheckpointRecord[], signal?: AbortSignal): AsyncIterable<TransferItem>;
  /** Writes a stream into the store, verifying every file, listing all of it or nothing. */
  receive(items: AsyncIterable<TransferItem>, signal?: AbortSignal, requestId?: string): Promise<CheckpointRecord[]>;
}

/** The stream of src/transfer over this store. */
export function transferStream(store: CheckpointStore, transfer: TransferService): CheckpointStream {
  return {
    chain: (id) => checkpointChain(store, id, true),
    read: (chain, signal) => readCheckpoints(store, chain, signal),
    receive: (items, signal, requestId) => transfer.receive(items, signal, requestId),
  };
}
