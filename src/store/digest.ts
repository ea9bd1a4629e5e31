/**
 * Checksums of every file of a checkpoint, so that images damaged or altered
 * after the dump are refused before a restore from them takes effect (before
 * CRIU starts, or, for files whose hashing is deferred, before the tree CRIU
 * rebuilt may run: verifyDirectoryDeferring).
 *
 * Digest scheme ("xxh64"): XXH64 (seed 0) of the file's bytes, streamed in
 * 4 MiB reads so that memory stays bounded (images can be GiBs), shown as 16
 * lowercase hex digits; the size is recorded and compared separately.
 *
 * Symlinks are never followed: CRIU's "parent" link is recorded by its target,
 * and a symlink where a regular file was is reported, not hashed through.
 */
import { constants as fsConstants, promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { Xxh64 } from '@node-rs/xxhash';
import { AgentError, errorMessage } from '../errors';

/** One regular file or symlink of a digested directory. */
export interface FileDigest {
  /** Relative to the directory, '/'-separated. */
  path: string;
  /** Bytes of a regular file; for a symlink, bytes of its target (as lstat reports). */
  size: number;
  /** 16 hex digits, for regular files (see DIGEST_ALGORITHM). */
  xxh64?: string;
  /** The link target, for symlinks (CRIU's "parent" link). */
  symlink?: string;
}

/**
 * Names the scheme of FileDigest.xxh64, for records that store digests.
 * XXH64 streams at ~14 GB/s here, about ten times @node-rs/xxhash's XXH3-128
 * (built without SIMD): the digests must cost little next to CRIU's writing.
 * It detects corruption, not deliberate tampering by someone who can also
 * rewrite the manifest.
 */
export const DIGEST_ALGORITHM = 'xxh64';

/** Options of digestDirectory and verifyDirectory. */
export interface DigestOptions {
  /** Relative ('/'-separated) paths to skip; an excluded directory is skipped whole. */
  exclude?: string[];
}

const CHUNK_BYTES = 4 * 1024 * 1024;
// The binding hashes synchronously on the JS thread, while reads run in
// libuv's thread pool: two files at a time overlap one file's reads with the
// other's hashing; more would only queue behind the one JS thread.
const PARALLEL_FILES = 2;
// A verification error names this many problems, then counts the rest.
const MAX_PROBLEMS_SHOWN = 10;
// O_NONBLOCK so that a FIFO swapped in after the walk cannot hang open().
const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

/**
 * Digests every regular file and symlink under dir (recursively), sorted by
 * path (by UTF-16 code units, like Array.prototype.sort).
 * @throws AgentError('failed-precondition') when dir holds anything else (FIFO,
 *   socket, device); AgentError('aborted') when a file changes while it is read.
 */
export async function digestDirectory(dir: string, opts: DigestOptions = {}): Promise<FileDigest[]> {
  const entries = await walk(dir, new Set(opts.exclude ?? []));
  const other = entries.find((e) => e.kind === 'other');
  if (other) {
    throw new AgentError(
      'failed-precondition',
      `cannot digest ${dir}: ${other.path} is ${describeKind(other.stats)}; only regular files, symlinks and directories are expected`,
    );
  }
  const out: FileDigest[] = entries.map((e) =>
    e.kind === 'symlink' ? { path: e.path, size: e.stats.size, symlink: e.target } : { path: e.path, size: e.stats.size },
  );
  await forEachLimited(
    out.filter((d) => d.symlink === undefined),
    PARALLEL_FILES,
    async (d, buf) => {
      let h: FileHash;
      try {
        h = await hashFile(path.join(dir, d.path), buf);
      } catch (err) {
        if (err instanceof ChangedError || isGone(err)) {
          throw new AgentError('aborted', `${d.path} in ${dir} changed while it was being digested: ${errorMessage(err)}`, { cause: err });
        }
        throw err;
      }
      d.size = h.size;
      d.xxh64 = h.digest;
    },
  );
  return out;
}

/**
 * Re-reads dir and compares it with expected (as digestDirectory returned it).
 * Sizes, types and link targets are compared before any file is read, and only
 * files whose size matches are hashed.
 * @throws AgentError('data-loss') naming the first problems: file missing,
 *   extra file, size differs, content differs, a regular file replaced by a
 *   symlink or the reverse, symlink target changed, or a file of another type.
 */
export async function verifyDirectory(dir: string, expected: FileDigest[], opts: DigestOptions = {}): Promise<void> {
  const deferred = await verifyDirectoryDeferring(dir, expected, { ...opts, defer: () => false });
  await deferred.close();
}

/** Options of verifyDirectoryDeferring. */
export interface DeferOptions extends DigestOptions {
  /** Whether to leave the hashing of this file (a relative, '/'-separated path) to the returned DeferredHashes. */
  defer: (relPath: string) => boolean;
}

/**
 * The hashing verifyDirectoryDeferring left for later: each deferred file
 * was opened, and its type and size checked, when the directory was checked;
 * none of it has been read yet.
 */
export interface DeferredHashes {
  /** Relative paths of the deferred files. */
  readonly paths: readonly string[];
  /**
   * Hashes every deferred file through the descriptor opened at the check,
   * then checks that each path still names that same file, unchanged (inode,
   * size, mtime, ctime): a file swapped in after the check, which a reader
   * opening the path would have read instead, is caught too. Repeated calls
   * return the same promise.
   * @throws AgentError('data-loss') as verifyDirectory does;
   *   AgentError('cancelled') when close() stopped it first.
   */
  verify(): Promise<void>;
  /** Stops a verification under way, waits until it no longer reads, and closes every descriptor. Idempotent. */
  close(): Promise<void>;
}

/**
 * verifyDirectory, except that the files `defer` names are only opened and
 * checked for type and size: their hashing is left to the result's verify(),
 * to run while something else (CRIU restoring) reads them.
 * @throws AgentError('data-loss') for the problems found without the deferred hashes.
 */
export async function verifyDirectoryDeferring(dir: string, expected: FileDigest[], opts: DeferOptions): Promise<DeferredHashes> {
  const exclude = new Set(opts.exclude ?? []);
  const actual = new Map((await walk(dir, exclude)).map((e) => [e.path, e]));
  const problems: Problem[] = [];
  const toHash: { path: string; want: string }[] = [];
  const toDefer: { path: string; want: string; walked: Stats }[] = [];
  const seen = new Set<string>();

  for (const want of expected) {
    if (isExcluded(want.path, exclude)) continue;
    seen.add(want.path);
    const have = actual.get(want.path);
    const wantLink = want.symlink !== undefined;
    if (!wantLink && want.xxh64 === undefined) {
      problems.push({ path: want.path, what: 'its recorded digest has neither a hash nor a link target' });
    } else if (!have) {
      // walk() lists no directories; one in the file's place is named as such.
      const expectedKind = wantLink ? `a symlink to ${want.symlink}` : 'a regular file';
      problems.push({
        path: want.path,
        what: (await isDirectory(path.join(dir, want.path))) ? `is a directory, expected ${expectedKind}` : `missing (was ${expectedKind})`,
      });
    } else if (have.kind === 'other') {
      problems.push({ path: want.path, what: `is ${describeKind(have.stats)}, expected ${wantLink ? 'a symlink' : 'a regular file'}` });
    } else if (wantLink && have.kind === 'file') {
      problems.push({ path: want.path, what: `a regular file replaced the symlink to ${want.symlink}` });
    } else if (!wantLink && have.kind === 'symlink') {
      problems.push({ path: want.path, what: `a symlink to ${have.target} replaced the regular file` });
    } else if (have.kind === 'symlink') {
      if (have.target !== want.symlink) {
        problems.push({ path: want.path, what: `symlink target is ${have.target}, expected ${want.symlink}` });
      }
    } else if (have.stats.size !== want.size) {
      problems.push({ path: want.path, what: `size is ${have.stats.size} bytes, expected ${want.size}` });
    } else if (want.xxh64 !== undefined) {
      if (opts.defer(want.path)) toDefer.push({ path: want.path, want: want.xxh64, walked: have.stats });
      else toHash.push({ path: want.path, want: want.xxh64 });
    }
  }
  for (const e of actual.values()) {
    if (seen.has(e.path)) continue;
    const what =
      e.kind === 'file' ? 'regular file' : e.kind === 'symlink' ? `symlink to ${e.target}` : describeKind(e.stats).replace(/^an? /, '');
    problems.push({ path: e.path, what: `extra ${what}, not in the recorded digest` });
  }

  // Opened now, so that what is hashed later is the file checked here.
  const opened: DeferredFile[] = [];
  try {
    for (const f of toDefer) {
      try {
        const fh = await fsp.open(path.join(dir, f.path), OPEN_FLAGS);
        const st = await fh.stat().catch(async (err: unknown) => {
          await fh.close();
          throw err;
        });
        opened.push({ ...f, fh, st });
      } catch (err) {
        if (!isGone(err)) throw err;
        problems.push({ path: f.path, what: `unreadable or changed while being verified: ${errorMessage(err)}` });
      }
    }
    for (const f of opened) {
      if (!sameFile(f.st, f.walked))
        problems.push({ path: f.path, what: 'changed while being verified: it is no longer the file first found' });
    }
    await forEachLimited(toHash, PARALLEL_FILES, async (f, buf) => {
      const problem = await hashProblem(f.path, f.want, () => hashFile(path.join(dir, f.path), buf));
      if (problem) problems.push(problem);
    });
    if (problems.length > 0) throw mismatch(dir, problems);
  } catch (err) {
    await Promise.all(opened.map((f) => f.fh.close()));
    throw err;
  }
  return new Deferred(dir, opened);
}

interface DeferredFile {
  path: string;
  want: string;
  /** lstat of the path when the directory was walked. */
  walked: Stats;
  fh: fsp.FileHandle;
  /** fstat of fh when it was opened. */
  st: Stats;
}

class Deferred implements DeferredHashes {
  readonly paths: readonly string[];
  private running?: Promise<void>;
  private stopped = false;
  private closed?: Promise<void>;

  constructor(
    private readonly dir: string,
    private readonly files: DeferredFile[],
  ) {
    this.paths = files.map((f) => f.path);
  }

  verify(): Promise<void> {
    this.running ??= this.check();
    return this.running;
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stopped = true;
      await this.running?.catch(() => undefined);
      await Promise.all(this.files.map((f) => f.fh.close()));
    })();
    return this.closed;
  }

  private async check(): Promise<void> {
    if (this.stopped) throw new AgentError('cancelled', `verification of ${this.dir} was stopped`);
    const problems: Problem[] = [];
    await forEachLimited(this.files, PARALLEL_FILES, async (f, buf) => {
      const problem = await hashProblem(f.path, f.want, () => hashOpen(f.fh, f.st, buf, () => this.stopped));
      if (problem) {
        problems.push(problem);
        return;
      }
      // Whoever opens the path must have found the bytes just hashed: the
      // same inode, not written to since (a write moves mtime and ctime).
      const now = await f.fh.stat();
      const there = await fsp.lstat(path.join(this.dir, f.path)).catch(() => undefined);
      if (!there || !sameFile(there, f.st)) {
        problems.push({ path: f.path, what: 'changed while being verified: another file took its place' });
      } else if (!sameFile(now, f.st) || now.mtimeMs !== f.st.mtimeMs || now.ctimeMs !== f.st.ctimeMs) {
        problems.push({ path: f.path, what: 'changed while being verified: written to or otherwise modified (mtime or ctime moved)' });
      }
    });
    if (problems.length > 0) throw mismatch(this.dir, problems);
  }
}

/**
 * What is wrong with one file whose digest should be `want`, hashed by
 * `hash`: undefined when it matches; a read that shows the file damaged or
 * changed is a problem of that file, any other failure is thrown.
 */
async function hashProblem(relPath: string, want: string, hash: () => Promise<FileHash>): Promise<Problem | undefined> {
  let h: FileHash;
  try {
    h = await hash();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof ChangedError || isGone(err) || code === 'EIO') {
      return { path: relPath, what: `unreadable or changed while being verified: ${errorMessage(err)}` };
    }
    throw err;
  }
  return h.digest === want ? undefined : { path: relPath, what: `content differs (xxh64 ${h.digest}, expected ${want})` };
}

/** The same inode, of the same size. */
function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.isFile() && b.isFile();
}

/** verifyDirectory's error: the first problems by path, then a count of the rest. */
function mismatch(dir: string, problems: Problem[]): AgentError {
  problems.sort((a, b) => compare(a.path, b.path));
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).map((p) => `${p.path}: ${p.what}`);
  const more = problems.length - shown.length;
  return new AgentError(
    'data-loss',
    `${dir} does not match its recorded digest (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${shown.join('; ')}${
      more > 0 ? `; and ${more} more` : ''
    }`,
  );
}

interface Problem {
  path: string;
  what: string;
}

type Entry =
  | { kind: 'file'; path: string; stats: Stats }
  | { kind: 'symlink'; path: string; stats: Stats; target: string }
  | { kind: 'other'; path: string; stats: Stats };

/** Every non-directory under dir, by lstat, sorted by path; excluded paths and their subtrees skipped. */
async function walk(dir: string, exclude: Set<string>): Promise<Entry[]> {
  const out: Entry[] = [];
  const visit = async (rel: string): Promise<void> => {
    const names = await fsp.readdir(rel === '' ? dir : path.join(dir, rel));
    for (const name of names) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      if (exclude.has(relPath)) continue;
      const abs = path.join(dir, relPath);
      const stats = await fsp.lstat(abs);
      if (stats.isDirectory()) await visit(relPath);
      else if (stats.isFile()) out.push({ kind: 'file', path: relPath, stats });
      else if (stats.isSymbolicLink()) out.push({ kind: 'symlink', path: relPath, stats, target: await fsp.readlink(abs) });
      else out.push({ kind: 'other', path: relPath, stats });
    }
  };
  await visit('');
  return out.sort((a, b) => compare(a.path, b.path));
}

function isExcluded(relPath: string, exclude: Set<string>): boolean {
  if (exclude.has(relPath)) return true;
  for (let i = relPath.indexOf('/'); i !== -1; i = relPath.indexOf('/', i + 1)) {
    if (exclude.has(relPath.slice(0, i))) return true;
  }
  return false;
}

interface FileHash {
  size: number;
  digest: string;
}

/** The file grew or shrank between fstat and the end of reading it. */
class ChangedError extends Error {}

/**
 * Hashes one regular file by the scheme above, reading it through buf (of
 * CHUNK_BYTES) so that no more than one chunk is in memory.
 */
async function hashFile(file: string, buf: Buffer): Promise<FileHash> {
  // ELOOP from O_NOFOLLOW when a symlink took the file's place since the walk.
  const fh = await fsp.open(file, OPEN_FLAGS);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ChangedError(`it is now ${describeKind(st)}`);
    return await hashOpen(fh, st, buf);
  } finally {
    await fh.close();
  }
}

/**
 * Hashes the regular file open as fh, whose fstat at opening was st; checks
 * `stop` between chunks and throws AgentError('cancelled') once it says so.
 */
async function hashOpen(fh: fsp.FileHandle, st: Stats, buf: Buffer, stop?: () => boolean): Promise<FileHash> {
  const hasher = new Xxh64(0n);
  let total = 0;
  for (;;) {
    if (stop?.()) throw new AgentError('cancelled', 'verification stopped');
    let filled = 0;
    while (filled < CHUNK_BYTES) {
      const { bytesRead } = await fh.read(buf, filled, CHUNK_BYTES - filled, total + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled === 0) break;
    total += filled;
    // Checked per chunk, so a file that keeps growing cannot keep us reading.
    if (total > st.size) throw new ChangedError(`it grew beyond the ${st.size} bytes it had when opened`);
    hasher.update(buf.subarray(0, filled));
    if (filled < CHUNK_BYTES) break;
  }
  if (total !== st.size) throw new ChangedError(`it shrank to ${total} bytes from the ${st.size} it had when opened`);
  return { size: total, digest: hasher.digest().toString(16).padStart(16, '0') };
}

/** Runs fn over items with at most `limit` in flight, each worker with its own read buffer. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T, buf: Buffer) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    const buf = Buffer.allocUnsafeSlow(CHUNK_BYTES);
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item, buf);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.min(limit, items.length) }, () => worker());
  // allSettled first so that no worker is still reading when the error propagates.
  const results = await Promise.allSettled(workers);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fsp.lstat(p)).isDirectory();
  } catch {
    return false;
  }
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ELOOP';
}

function describeKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'not a regular file';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
