import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { Xxh64 } from '@node-rs/xxhash';
import { AgentError } from '../errors';
import { RECORD_FILE, isValidCheckpointId, type CheckpointRecord, type CheckpointStore, type ManifestFile, type PendingCheckpoint } from '../store';
import { DIGEST_ALGORITHM, digestDirectory } from '../store/digest';
import type { TransferItem } from './stream';

const HEX16 = /^[0-9a-f]{16}$/;

/** Where one regular file of a checkpoint being received stands. */
interface Incoming {
  file: ManifestFile;
  written: number;
  hasher: Xxh64;
  fh?: FileHandle;
}

/** One checkpoint of the stream being received. */
interface Receiving {
  record: CheckpointRecord;
  pending: PendingCheckpoint;
  /** Its regular non-empty files, in manifest order: the order their data comes in. */
  files: Incoming[];
  /** Index into `files` of the file data goes to now. */
  cursor: number;
}

/**
 * The one way checkpoint bytes are accepted (ImportCheckpoint, Migrate's
 * destination, later a registry pull): like containerd's content Writer,
 * everything lands in the store's hidden temporary directories, each file is
 * hashed as it arrives and checked against the sender's manifest (size and
 * XXH64) when its last byte came, and commit() lists the checkpoints only
 * when every file of every one of them matched; abort() (or any error) leaves
 * nothing listed and no partial directory.
 */
export class CheckpointWriter {
  private readonly received: Receiving[] = [];
  private closed = false;

  /**
   * `adopt`: a checkpoint directory already begun for one id of the stream,
   * into which something else wrote files the manifest does not list (a CRIU
   * page server receiving a migration's pages): those are digested here at
   * commit and added to the record, `logFile` (that writer's log) left out.
   */
  constructor(
    private readonly store: CheckpointStore,
    private readonly adopt?: { pending: PendingCheckpoint; logFile: string },
  ) {}

  /** The ids of the checkpoints announced so far, in stream order. */
  get ids(): string[] {
    return this.received.map((r) => r.record.id);
  }

  /** Takes the next item of the stream; on an error the caller must abort(). */
  async accept(item: TransferItem): Promise<void> {
    if (this.closed) throw new AgentError('internal', 'checkpoint writer used after commit or abort');
    if (item.kind === 'manifest') await this.begin(item.record);
    else await this.write(item.path, item.offset, item.bytes);
  }

  private async begin(given: CheckpointRecord): Promise<void> {
    let record = given;
    const previous = this.received.at(-1);
    if (previous) this.requireComplete(previous, `the manifest of ${record.id} arrived`);
    this.validate(record);
    if (this.received.some((r) => r.record.id === record.id)) {
      throw new AgentError('invalid-argument', `checkpoint ${record.id} appears twice in the stream`);
    }
    if (await this.store.get(record.id)) {
      throw new AgentError('already-exists', `checkpoint ${record.id} already exists on this node; delete it first or import under another id`);
    }
    if (record.parentId) await this.requireParent(record);
    await this.requireSpace(record);

    const adopted = this.adopt?.pending.id === record.id ? this.adopt : undefined;
    const pending = adopted?.pending ?? (await this.store.create(record.id));
    if (adopted) record = { ...record, logFile: adopted.logFile };
    const entry: Receiving = { record, pending, files: [], cursor: 0 };
    this.received.push(entry);
    for (const f of record.files) {
      const abs = path.join(pending.dir, f.path);
      await fsp.mkdir(path.dirname(abs), { recursive: true, mode: 0o700 });
      if (f.symlink !== undefined) await fsp.symlink(f.symlink, abs);
      else if (f.size === 0) await (await fsp.open(abs, 'wx', 0o600)).close();
      else entry.files.push({ file: f, written: 0, hasher: new Xxh64(0n) });
    }
  }

  private async write(rel: string, offset: number, bytes: Buffer): Promise<void> {
    const entry = this.received.at(-1);
    if (!entry) throw new AgentError('invalid-argument', 'the stream sent file data before any manifest');
    let cur = entry.files[entry.cursor];
    if (cur && cur.file.path !== rel && cur.written === cur.file.size) cur = entry.files[++entry.cursor];
    if (!cur || cur.file.path !== rel) {
      const expected = cur ? `${cur.file.path} at offset ${cur.written}` : 'no more data (every file is complete)';
      throw new AgentError('invalid-argument', `checkpoint ${entry.record.id}: data for ${rel} arrived, expected ${expected}; files must come in manifest order`);
    }
    if (offset !== cur.written) {
      throw new AgentError('invalid-argument', `checkpoint ${entry.record.id}: data for ${rel} at offset ${offset}, expected offset ${cur.written}`);
    }
    if (cur.written + bytes.length > cur.file.size) {
      throw new AgentError('data-loss', `checkpoint ${entry.record.id}: ${rel} got more than the ${cur.file.size} bytes its manifest says`);
    }
    cur.fh ??= await fsp.open(path.join(entry.pending.dir, rel), 'wx', 0o600);
    try {
      let done = 0;
      while (done < bytes.length) done += (await cur.fh.write(bytes, done, bytes.length - done, offset + done)).bytesWritten;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new AgentError('resource-exhausted', `no space left in ${this.store.checkpointsDir} while receiving checkpoint ${entry.record.id}; nothing was kept: free some space (DeleteCheckpoint)`, { cause: err });
      }
      throw err;
    }
    cur.hasher.update(bytes);
    cur.written += bytes.length;
    if (cur.written === cur.file.size) {
      const fh = cur.fh;
      cur.fh = undefined;
      await fh.close();
      const got = cur.hasher.digest().toString(16).padStart(16, '0');
      if (got !== cur.file.xxh64) {
        throw new AgentError('data-loss', `checkpoint ${entry.record.id}: ${rel} does not match the sender's digest (xxh64 ${got}, expected ${cur.file.xxh64}); nothing was kept`);
      }
    }
  }

  /**
   * Lists every checkpoint received, parents first: DATA_LOSS when the stream
   * ended before a file was complete. Returns their records.
   */
  async commit(): Promise<CheckpointRecord[]> {
    if (this.received.length === 0) throw new AgentError('invalid-argument', 'the stream held no checkpoint (no manifest chunk)');
    for (const r of this.received) this.requireComplete(r, 'the stream ended');
    this.closed = true;
    for (const r of this.received) {
      if (r.pending !== this.adopt?.pending) continue;
      const listed = new Set(r.record.files.map((f) => f.path));
      const extra = (await digestDirectory(r.pending.dir, { exclude: [RECORD_FILE, r.record.logFile, ...listed] })).filter((f) => !listed.has(f.path));
      const files = [...r.record.files, ...extra].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      r.record = { ...r.record, files, fileCount: files.length, sizeBytes: files.reduce((n, f) => n + f.size, 0) };
    }
    const committed: string[] = [];
    try {
      for (const r of this.received) {
        await r.pending.commit(r.record);
        committed.push(r.record.id);
      }
    } catch (err) {
      // All or none: the ones already listed go too (children first).
      for (const id of committed.reverse()) await this.store.remove(id).catch(() => undefined);
      for (const r of this.received) await r.pending.discard();
      throw err;
    }
    return this.received.map((r) => r.record);
  }

  /** Removes everything received; safe to call more than once and after a failed commit. */
  async abort(): Promise<void> {
    this.closed = true;
    for (const r of this.received) {
      for (const f of r.files) await f.fh?.close().catch(() => undefined);
      await r.pending.discard();
    }
  }

  private requireComplete(r: Receiving, when: string): void {
    const missing = r.files.find((f) => f.written < f.file.size);
    if (missing) {
      throw new AgentError(
        'data-loss',
        `checkpoint ${r.record.id}: ${when} before ${missing.file.path} was complete (${missing.written} of ${missing.file.size} bytes); nothing was kept`,
      );
    }
  }

  private validate(r: CheckpointRecord): void {
    const bad = (why: string): AgentError => new AgentError('invalid-argument', `checkpoint ${JSON.stringify(r.id)} in the stream: ${why}`);
    if (!isValidCheckpointId(r.id)) throw bad('not a valid checkpoint id');
    if (r.parentId !== undefined && (!isValidCheckpointId(r.parentId) || r.parentId === r.id)) throw bad('its parent is not a valid checkpoint id');
    if (r.digestAlgorithm !== DIGEST_ALGORITHM) throw bad(`digest algorithm ${r.digestAlgorithm} is not ${DIGEST_ALGORITHM}`);
    const seen = new Set<string>();
    for (const f of r.files) {
      const parts = f.path.split('/');
      if (f.path === '' || f.path.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) throw bad(`file path ${JSON.stringify(f.path)} is not a plain relative path`);
      if (parts[0] === RECORD_FILE || parts[0] === `${RECORD_FILE}.tmp`) throw bad(`file path ${f.path} is reserved for the manifest`);
      if (seen.has(f.path)) throw bad(`file ${f.path} is listed twice`);
      seen.add(f.path);
      if (!Number.isSafeInteger(f.size) || f.size < 0) throw bad(`file ${f.path} has no valid size`);
      if (f.symlink !== undefined) {
        // The only link CRIU leaves among its images is an incremental dump's "parent".
        if (f.path !== 'parent' || f.symlink !== `../${r.parentId ?? ''}`) throw bad(`symlink ${f.path} -> ${f.symlink} is not the parent link ../${r.parentId ?? '(no parent)'}`);
      } else if (!HEX16.test(f.xxh64 ?? '')) {
        throw bad(`file ${f.path} has no xxh64 digest (16 hex digits)`);
      }
    }
    for (const p of seen) {
      if (seen.has(p.split('/').slice(0, -1).join('/'))) throw bad(`${p} lies inside another file's path`);
    }
  }

  private async requireParent(r: CheckpointRecord): Promise<void> {
    const parentId = r.parentId as string;
    const inStream = this.received.find((x) => x.record.id === parentId);
    const parent = inStream?.record ?? (await this.store.get(parentId));
    if (!parent) {
      throw new AgentError(
        'failed-precondition',
        `checkpoint ${r.id} builds on ${parentId}, which is neither on this node nor earlier in the stream; export with include_parents, or import ${parentId} first`,
      );
    }
    if (parent.kind !== 'pre-dump') {
      throw new AgentError('failed-precondition', `checkpoint ${r.id} builds on ${parentId}, which is a ${parent.kind} here; only a pre-dump can be a parent`);
    }
  }

  private async requireSpace(r: CheckpointRecord): Promise<void> {
    const fs = await fsp.statfs(this.store.checkpointsDir);
    const free = fs.bavail * fs.bsize;
    if (r.sizeBytes > free) {
      throw new AgentError(
        'resource-exhausted',
        `not enough space to import checkpoint ${r.id}: it is ${mib(r.sizeBytes)} MiB, ${this.store.checkpointsDir} has ${mib(free)} MiB free; free some space (DeleteCheckpoint) or use a larger state directory`,
      );
    }
  }
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
