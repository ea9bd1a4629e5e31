import { AgentError } from '../errors';
import { validateCheckpointId, type CheckpointRecord } from '../store';
import { CheckpointWriter, checkpointChain, readCheckpoints, type TransferItem } from '../transfer';
import type { CheckpointInfo } from './checkpoints';
import type { ServiceContext } from './context';

/** ExportCheckpoint and ImportCheckpoint: checkpoints as a stream, out of and into this node's store. */
export class TransferService {
  constructor(private readonly ctx: ServiceContext) {}

  /**
   * The checkpoint (and with includeParents its pre-dumps) as a stream. The
   * checkpoints are held (no Delete, Restore or other export of them) until
   * the stream ends or its consumer stops. Errors before the first item:
   * INVALID_ARGUMENT, NOT_FOUND, ABORTED (busy).
   */
  async *export(id: string, includeParents: boolean, signal?: AbortSignal, requestId?: string): AsyncGenerator<TransferItem> {
    validateCheckpointId(id);
    const chain = await checkpointChain(this.ctx.store, id, includeParents);
    const release = this.ctx.locks.acquire(
      chain.map((c) => `checkpoint ${c.id}`),
      `export of checkpoint ${id}${requestId ? ` (request ${requestId})` : ''}`,
    );
    try {
      yield* readCheckpoints(this.ctx.store, chain, signal);
    } finally {
      release();
    }
  }

  /**
   * Stores the checkpoints of a stream, all or none (see CheckpointWriter).
   * Returns the last one, as GetCheckpoint would describe it.
   */
  async import(items: AsyncIterable<TransferItem>, signal?: AbortSignal, requestId?: string): Promise<CheckpointInfo> {
    const records = await this.receive(items, signal, requestId);
    const last = records.at(-1) as CheckpointRecord;
    return {
      ...last,
      imagesDir: this.ctx.store.pathOf(last.id),
      children: (await this.ctx.store.list()).filter((c) => c.parentId === last.id).map((c) => c.id),
    };
  }

  /** Writes the stream into the store through the one writer, holding each id (and a local parent) while it does. */
  async receive(items: AsyncIterable<TransferItem>, signal?: AbortSignal, requestId?: string): Promise<CheckpointRecord[]> {
    const writer = new CheckpointWriter(this.ctx.store);
    const releases: (() => void)[] = [];
    try {
      for await (const item of items) {
        signal?.throwIfAborted();
        if (item.kind === 'manifest') {
          const { id, parentId } = item.record;
          validateCheckpointId(id);
          const keys = [`checkpoint ${id}`, ...(parentId && !writer.ids.includes(parentId) ? [`checkpoint ${parentId}`] : [])];
          releases.push(this.ctx.locks.acquire(keys, `import of checkpoint ${id}${requestId ? ` (request ${requestId})` : ''}`));
        }
        await writer.accept(item);
      }
      signal?.throwIfAborted();
      return await writer.commit();
    } catch (err) {
      await writer.abort();
      if (signal?.aborted) throw signal.reason;
      throw err instanceof AgentError ? err : new AgentError('internal', `import failed: ${(err as Error).message}`, { cause: err });
    } finally {
      for (const r of releases) r();
    }
  }
}
