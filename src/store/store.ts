import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { DUMP_STATS_FILE, RESTORE_STATS_FILE, type DumpStats } from '../criu/stats';
import { AgentError } from '../errors';
import type { FinalState } from '../finalState';
import { isValidCheckpointId, validateCheckpointId } from './ids';

export type CheckpointKind = 'dump' | 'pre-dump';

/** One file of a checkpoint and its digest (see digest.ts). */
export interface ManifestFile {
  path: string;
  size: number;
  xxh64?: string;
  symlink?: string;
}

/**
 * A checkpoint's manifest: what the store knows about it, written last, as
 * checkpoint.json. A directory without one is never listed or restored.
 */
export interface CheckpointRecord {
  id: string;
  kind: CheckpointKind;
  /** The pre-dump this one builds on. */
  parentId?: string;
  /** Root pid of the tree when it was checkpointed. */
  pid: number;
  pids: number[];
  /** The root's command line at the time. */
  commandLine: string[];
  createdAt: string;
  criuVersion: string;
  kernel: string;
  finalState: FinalState;
  /** CRIU's log, inside the checkpoint directory. */
  logFile: string;
  /** The agent's id of the request that made it (in the agent's log lines of the call). */
  requestId?: string;
  /** Sum of the files' sizes, and their count (the manifest and logs left out). */
  sizeBytes: number;
  fileCount: number;
  /** CRIU's statistics (stats-dump). */
  stats?: DumpStats;
  /** How `files` were hashed; restore checks them before CRIU reads anything. */
  digestAlgorithm: string;
  files: ManifestFile[];
  /**
   * The processes whose GPU state the dump took (NVIDIA's checkpoint API),
   * with the driver's times in ms and the bytes moved; absent for CPU trees.
   * Restore needs the driver's checkpoint API when it is present.
   */
  gpu?: GpuRecord[];
}

/** One GPU process of a checkpoint (see CheckpointRecord.gpu). */
export interface GpuRecord {
  pid: number;
  lockMs: number;
  checkpointMs: number;
  restoreMs: number;
  unlockMs: number;
  /**
   * Bytes of GPU state moved to host memory by Checkpoint, measured as the
   * growth of the process's resident memory across the call (the driver does
   * not report it); 0 when no Checkpoint ran.
   */
  checkpointBytes: number;
}

export const RECORD_FILE = 'checkpoint.json';

/** CRIU's logs of restores of a checkpoint, written into its directory (see RestoreService). */
const RESTORE_LOG = /^restore(-[A-Za-z0-9._-]+)?\.log$/;

/**
 * Files of a checkpoint's directory that its manifest does not list and
 * that are no part of it: the manifest itself, CRIU's logs and statistics.
 * A DEAD dump's record is made before CRIU writes its stats-dump (see
 * DumpService), so it lists none; CRIU's restore reads neither.
 */
export async function unlistedFiles(dir: string, record: CheckpointRecord): Promise<string[]> {
  const listed = new Set(record.files.map((f) => f.path));
  return [
    RECORD_FILE,
    record.logFile,
    RESTORE_STATS_FILE,
    ...(listed.has(DUMP_STATS_FILE) ? [] : [DUMP_STATS_FILE]),
    ...(await fsp.readdir(dir)).filter((n) => RESTORE_LOG.test(n)),
  ];
}
const TMP_PREFIX = '.tmp-';

/**
 * Checkpoint directories under <stateDir>/checkpoints, one per id.
 *
 * A checkpoint is built in a hidden sibling directory and renamed into place
 * only once CRIU succeeded and its record is written, so a directory named by
 * an id is always complete. The temporary directory is a sibling, not in
 * another folder, because CRIU resolves the "parent" link of an incremental
 * dump relative to the images directory ("../<parent id>").
 */
export class CheckpointStore {
  readonly checkpointsDir: string;
  readonly failedDir: string;

  private constructor(readonly stateDir: string) {
    this.checkpointsDir = path.join(stateDir, 'checkpoints');
    this.failedDir = path.join(stateDir, 'failed');
  }

  /**
   * Creates the layout and sweeps temporary directories a previous run left
   * behind, except those in `busy` (a CRIU of that run still works there).
   * The caller holds the state directory's lock (lockStateDir): a live
   * agent's temporary directories are never swept.
   */
  static async open(stateDir: string, opts: { busy?: readonly string[] } = {}): Promise<CheckpointStore> {
    const store = new CheckpointStore(path.resolve(stateDir));
    await fsp.mkdir(store.checkpointsDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(store.failedDir, { recursive: true, mode: 0o700 });
    await fsp.chmod(store.stateDir, 0o700);
    const busy = new Set(opts.busy ?? []);
    for (const name of await fsp.readdir(store.checkpointsDir)) {
      const dir = path.join(store.checkpointsDir, name);
      if (name.startsWith(TMP_PREFIX) && !busy.has(dir)) await fsp.rm(dir, { recursive: true, force: true });
    }
    return store;
  }

  /**
   * Removes those of `dirs` that are temporary directories of this store
   * (left by an earlier run's CRIU that has ended since the start-up sweep);
   * anything else, such as a checkpoint that CRIU finished, stays.
   */
  async sweepTemporary(dirs: readonly string[]): Promise<void> {
    for (const dir of dirs) {
      if (path.dirname(dir) === this.checkpointsDir && path.basename(dir).startsWith(TMP_PREFIX)) {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    }
  }

  pathOf(id: string): string {
    return path.join(this.checkpointsDir, validateCheckpointId(id));
  }

  /**
   * The manifest of a complete checkpoint, or null when there is none by that
   * id (no directory, or no manifest yet). DATA_LOSS for a manifest that is
   * unreadable or incomplete.
   */
  async get(id: string): Promise<CheckpointRecord | null> {
    const dir = this.pathOf(id);
    let text: string;
    try {
      const st = await fsp.lstat(dir);
      if (!st.isDirectory()) return null;
      text = await readManifest(path.join(dir, RECORD_FILE));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw damaged(id, dir, (err as Error).message, err);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw damaged(id, dir, (err as Error).message, err);
    }
    const problem = manifestProblem(parsed, id);
    if (problem) throw damaged(id, dir, problem);
    return parsed as CheckpointRecord;
  }

  /** Starts a new checkpoint; ALREADY_EXISTS when the id is taken. */
  async create(id: string): Promise<PendingCheckpoint> {
    const finalDir = this.pathOf(id);
    if (await exists(finalDir)) {
      throw new AgentError('already-exists', `checkpoint ${id} already exists (${finalDir}); choose another checkpoint_id`);
    }
    const tmpDir = path.join(this.checkpointsDir, `${TMP_PREFIX}${id}-${randomBytes(4).toString('hex')}`);
    await fsp.mkdir(tmpDir, { mode: 0o700 });
    return new PendingCheckpoint(this, id, tmpDir, finalDir);
  }

  /** Every complete checkpoint, oldest first. */
  async list(): Promise<CheckpointRecord[]> {
    const out: CheckpointRecord[] = [];
    for (const name of await fsp.readdir(this.checkpointsDir)) {
      if (name.startsWith('.')) continue;
      try {
        const record = await this.get(name);
        if (record) out.push(record);
      } catch {
        // An unreadable manifest is reported by get(id), not by the listing.
      }
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /**
   * The ids to delete for `id`: its descendants (children before parents),
   * then itself. FAILED_PRECONDITION when it has children and `cascade` is off.
   */
  async deletionPlan(id: string, cascade: boolean): Promise<string[]> {
    const all = await this.list();
    if (!all.some((c) => c.id === id)) {
      // A directory whose manifest is missing or damaged is not listed, but
      // must still be removable through the API.
      if (await exists(this.pathOf(id))) return [id];
      throw new AgentError('not-found', `checkpoint ${id} does not exist`);
    }
    const childrenOf = (p: string): string[] => all.filter((c) => c.parentId === p).map((c) => c.id);
    const direct = childrenOf(id);
    if (direct.length && !cascade) {
      throw new AgentError(
        'failed-precondition',
        `checkpoint ${id} is the parent of ${direct.join(', ')}; delete those first, or set cascade to delete them too`,
      );
    }
    const order: string[] = [];
    const seen = new Set<string>();
    const visit = (c: string): void => {
      // Manifests naming each other as parents must not recurse forever.
      if (seen.has(c)) return;
      seen.add(c);
      for (const child of childrenOf(c)) visit(child);
      order.push(c);
    };
    visit(id);
    return order;
  }

  /**
   * Removes one checkpoint: first renamed to a temporary name (so it leaves
   * the listing at once and a crash half-way leaves only something the next
   * start sweeps), then deleted.
   */
  async remove(id: string): Promise<void> {
    const dir = this.pathOf(id);
    const doomed = path.join(this.checkpointsDir, `${TMP_PREFIX}deleted-${id}-${randomBytes(4).toString('hex')}`);
    try {
      await fsp.rename(dir, doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new AgentError('not-found', `checkpoint ${id} does not exist`);
      throw err;
    }
    await syncDir(this.checkpointsDir);
    await fsp.rm(doomed, { recursive: true, force: true });
  }

  /** Replaces a complete checkpoint's manifest (the same id) atomically. */
  async rewriteRecord(record: CheckpointRecord): Promise<void> {
    await writeRecord(this.pathOf(record.id), record);
  }

  /**
   * Checkpoints to delete so that at most maxCount remain and they take at
   * most maxBytes (0: no limit): oldest first, and only ones no other
   * checkpoint builds on, never those in `keep`.
   */
  async retentionVictims(limits: { maxCount: number; maxBytes: number }, keep: ReadonlySet<string>): Promise<string[]> {
    let all = await this.list();
    const victims: string[] = [];
    const over = (): boolean =>
      (limits.maxCount > 0 && all.length > limits.maxCount) ||
      (limits.maxBytes > 0 && all.reduce((n, c) => n + c.sizeBytes, 0) > limits.maxBytes);
    while (over()) {
      const victim = all.find((c) => !keep.has(c.id) && !all.some((o) => o.parentId === c.id));
      if (!victim) break;
      victims.push(victim.id);
      all = all.filter((c) => c !== victim);
    }
    return victims;
  }
}

/** A checkpoint being written; either commit() or discard() ends it. */
export class PendingCheckpoint {
  constructor(
    private readonly store: CheckpointStore,
    readonly id: string,
    /** Where CRIU writes the images until commit. */
    readonly dir: string,
    readonly finalDir: string,
  ) {}

  /**
   * Writes the record (atomically, last) and moves the directory into place.
   * RESOURCE_EXHAUSTED when the file system is full; the directory is then
   * left for discard().
   */
  async commit(record: CheckpointRecord): Promise<string> {
    await writeRecord(this.dir, record);
    try {
      await fsp.rename(this.dir, this.finalDir);
    } catch (err) {
      // rename(2) onto a non-empty directory fails: someone made the id meanwhile.
      await this.discard();
      throw new AgentError('already-exists', `checkpoint ${this.id} appeared while it was being written`, { cause: err });
    }
    await syncDir(this.store.checkpointsDir);
    return this.finalDir;
  }

  /**
   * Removes the partial checkpoint, keeping CRIU's log (if any) under
   * <stateDir>/failed so the error can point at it. Returns the kept log's path.
   */
  async discard(logFile?: string): Promise<string | undefined> {
    let kept: string | undefined;
    if (logFile) {
      const from = path.join(this.dir, logFile);
      // <checkpoint id>-dump-<request id>.log: the log's own name (which
      // carries the request id) after the checkpoint it was for.
      const to = path.join(this.store.failedDir, `${this.id}-${logFile}`);
      try {
        await fsp.rename(from, to);
        kept = to;
      } catch {
        kept = undefined;
      }
    }
    await fsp.rm(this.dir, { recursive: true, force: true });
    return kept;
  }
}

/** Writes dir's checkpoint.json atomically (a temporary file, synced, renamed over it). */
async function writeRecord(dir: string, record: CheckpointRecord): Promise<void> {
  const tmpRecord = path.join(dir, `${RECORD_FILE}.tmp`);
  try {
    const fh = await fsp.open(tmpRecord, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(record, null, 2) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmpRecord, path.join(dir, RECORD_FILE));
  } catch (err) {
    await fsp.rm(tmpRecord, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new AgentError(
        'resource-exhausted',
        `the file system of ${path.dirname(dir)} is full: the manifest of checkpoint ${record.id} could not be written; free some space (DeleteCheckpoint) and try again`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** Manifests are small; a larger file is not one, and is not read into memory. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/**
 * Reads checkpoint.json without following a symlink and only if it is a
 * regular file of sane size: a FIFO would hang the reader, /dev/zero fill
 * memory.
 */
async function readManifest(file: string): Promise<string> {
  const fh = await fsp.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('checkpoint.json is not a regular file');
    if (st.size > MAX_MANIFEST_BYTES) throw new Error(`checkpoint.json is ${st.size} bytes`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

function damaged(id: string, dir: string, why: string, cause?: unknown): AgentError {
  return new AgentError(
    'data-loss',
    `checkpoint ${id} at ${dir} has a damaged or incomplete manifest (${why}); it cannot be used: remove it with DeleteCheckpoint`,
    { cause },
  );
}

/** What is wrong with a parsed checkpoint.json, or undefined when it has every field the agent relies on. */
function manifestProblem(m: unknown, id: string): string | undefined {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'not a JSON object';
  const r = m as Record<string, unknown>;
  if (r.id !== id) return `its id is ${JSON.stringify(r.id)}, not ${JSON.stringify(id)}`;
  if (r.kind !== 'dump' && r.kind !== 'pre-dump') return 'kind is neither dump nor pre-dump';
  if (r.parentId !== undefined && (typeof r.parentId !== 'string' || !isValidCheckpointId(r.parentId))) return 'parentId is not a valid checkpoint id';
  if (!Number.isInteger(r.pid)) return 'pid is missing';
  if (!Array.isArray(r.pids) || !r.pids.every((p) => Number.isInteger(p))) return 'pids is missing';
  for (const k of ['createdAt', 'criuVersion', 'kernel', 'finalState', 'logFile', 'digestAlgorithm'] as const) {
    if (typeof r[k] !== 'string') return `${k} is missing`;
  }
  if (!Array.isArray(r.commandLine)) return 'commandLine is missing';
  if (!Number.isInteger(r.sizeBytes) || !Number.isInteger(r.fileCount)) return 'sizes are missing';
  if (!Array.isArray(r.files) || !r.files.every((f) => typeof f === 'object' && f !== null && typeof (f as { path?: unknown }).path === 'string')) {
    return 'files is missing';
  }
  return undefined;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
