import { constants as fsConstants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Xxh64 } from '@node-rs/xxhash';
import { AgentError } from '../errors';
import type { CheckpointRecord, CheckpointStore } from '../store';
import { CHUNK_BYTES, type TransferItem } from './stream';

/**
 * The checkpoint `id`, and with includeParents the pre-dumps it builds on,
 * oldest first. NOT_FOUND when `id` is missing; DATA_LOSS when a parent its
 * manifest names is missing or the parents form a cycle.
 */
export async function checkpointChain(store: CheckpointStore, id: string, includeParents: boolean): Promise<CheckpointRecord[]> {
  const record = await store.get(id);
  if (!record) throw new AgentError('not-found', `checkpoint ${id} does not exist`);
  const chain = [record];
  const seen = new Set([id]);
  let current = record;
  while (includeParents && current.parentId) {
    const parentId = current.parentId;
    if (seen.has(parentId)) throw new AgentError('data-loss', `checkpoint ${id}: its parents form a cycle at ${parentId}`);
    seen.add(parentId);
    const parent = await store.get(parentId);
    if (!parent) throw new AgentError('data-loss', `checkpoint ${current.id} builds on ${parentId}, which is missing on this node`);
    chain.unshift(parent);
    current = parent;
  }
  return chain;
}

/**
 * The one reader of checkpoint bytes: turns checkpoints (as checkpointChain
 * lists them) into a stream of manifests and file chunks. Each file is hashed
 * while it is read and compared with its manifest at its end, so a file
 * changed since the dump ends the stream with DATA_LOSS instead of reaching
 * the other side as if it were good (which would refuse it anyway).
 */
export async function* readCheckpoints(
  store: CheckpointStore,
  chain: readonly CheckpointRecord[],
  signal?: AbortSignal,
): AsyncGenerator<TransferItem> {
  for (const record of chain) {
    yield { kind: 'manifest', record };
    const dir = store.pathOf(record.id);
    for (const f of record.files) {
      if (f.symlink !== undefined || f.size === 0) continue;
      yield* readFile(record.id, dir, f.path, f.size, f.xxh64 ?? '', signal);
    }
  }
}

async function* readFile(id: string, dir: string, rel: string, size: number, want: string, signal?: AbortSignal): AsyncGenerator<TransferItem> {
  const fh = await fsp.open(path.join(dir, rel), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch((err: unknown) => {
    throw new AgentError('data-loss', `checkpoint ${id}: cannot read ${rel}: ${(err as Error).message}`, { cause: err });
  });
  try {
    const hasher = new Xxh64(0n);
    let offset = 0;
    while (offset < size) {
      signal?.throwIfAborted();
      // A fresh buffer per chunk: the consumer may still hold the previous one (queued on a socket).
      const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, size - offset));
      let filled = 0;
      while (filled < buf.length) {
        const { bytesRead } = await fh.read(buf, filled, buf.length - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled < buf.length) {
        throw new AgentError('data-loss', `checkpoint ${id}: ${rel} is ${offset + filled} bytes, its manifest says ${size}`);
      }
      hasher.update(buf);
      yield { kind: 'data', path: rel, offset, bytes: buf };
      offset += filled;
    }
    const got = hasher.digest().toString(16).padStart(16, '0');
    if (got !== want) throw new AgentError('data-loss', `checkpoint ${id}: ${rel} changed since the dump (xxh64 ${got}, its manifest says ${want})`);
  } finally {
    await fh.close();
  }
}
