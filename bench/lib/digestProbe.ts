/**
 * What the agent's XXH64 digests cost, and what two changes to
 * src/store/digest.ts would save (prototyped here, not in src/):
 *  - one large file (CRIU's pages-*.img): the agent reads a 4 MiB chunk, then
 *    hashes it, then reads the next; reading the next chunk while hashing
 *    this one overlaps the two;
 *  - many small files (a tree's per-process images): every file costs several
 *    thread-pool round trips (open, stat, read, read, close) for a few KiB.
 */
import { Xxh64, xxh3 } from '@node-rs/xxhash';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { digestDirectory } from '../../src/store/digest';
import { timeInterleaved } from './util';

const CHUNK = 4 * 1024 * 1024;

export interface DigestProbeResult {
  bigFileMiB: number;
  smallFiles: number;
  smallFileBytes: number;
  /** ms, medians */
  agentBig: number;
  readOnlyBig: number;
  hashOnlyBig: number;
  doubleBufferedBig: number;
  xxh3Big: number;
  xxh3DoubleBufferedBig: number;
  xxh3OnlyBig: number;
  agentSmall: number;
  syncSmall: number;
}

function hex(h: bigint): string {
  return h.toString(16).padStart(16, '0');
}

async function readOnly(file: string): Promise<void> {
  const fh = await fsp.open(file, 'r');
  const buf = Buffer.allocUnsafeSlow(CHUNK);
  try {
    for (let pos = 0; ;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

interface Hasher {
  update(b: Uint8Array): unknown;
  digest(): bigint;
}

function hashOnly(totalBytes: number, h: Hasher = new Xxh64(0n)): string {
  const buf = Buffer.alloc(CHUNK, 0x5a);
  for (let done = 0; done < totalBytes; done += CHUNK) h.update(buf);
  return hex(h.digest());
}

/** Reads chunk n+1 (thread pool) while chunk n is hashed (JS thread). With XXH64, the agent's digest. */
export async function doubleBufferedDigest(file: string, h: Hasher = new Xxh64(0n)): Promise<string> {
  const fh = await fsp.open(file, 'r');
  const bufs: Buffer[] = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
  try {
    let pos = 0;
    let k = 0;
    let pending: Promise<{ bytesRead: number }> = fh.read(bufs[0] as Buffer, 0, CHUNK, pos);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const cur = bufs[k] as Buffer;
      pos += bytesRead;
      k ^= 1;
      pending = fh.read(bufs[k] as Buffer, 0, CHUNK, pos);
      h.update(cur.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hex(h.digest());
}

/** The agent's read loop with XXH3-64 (@node-rs/xxhash's xxh3.Xxh3, already a dependency) instead of XXH64. */
async function xxh3Digest(file: string): Promise<string> {
  const fh = await fsp.open(file, 'r');
  const buf = Buffer.allocUnsafeSlow(CHUNK);
  const h = xxh3.Xxh3.withSeed(0n);
  try {
    for (let pos = 0; ;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return hex(h.digest());
}

/** Small files read and hashed synchronously: one system call sequence each, no thread-pool round trips. */
function syncSmallDigests(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .sort()
    .map((n) => hex(new Xxh64(0n).update(fs.readFileSync(path.join(dir, n))).digest()));
}

export async function digestProbe(workDir: string, bigMiB: number, smallCount: number, reps: number): Promise<DigestProbeResult> {
  const bigDir = path.join(workDir, 'digest-big');
  const smallDir = path.join(workDir, 'digest-small');
  await fsp.mkdir(bigDir, { recursive: true });
  await fsp.mkdir(smallDir, { recursive: true });
  const big = path.join(bigDir, 'pages-1.img');
  try {
    // A non-zero pattern, like the mem workloads' pages; it stays in the page cache.
    const chunk = Buffer.alloc(CHUNK);
    for (let i = 0; i < CHUNK; i += 16) chunk.write('criu-agent-bench', i, 'latin1');
    const fh = await fsp.open(big, 'w');
    for (let i = 0; i < (bigMiB * 2 ** 20) / CHUNK; i++) await fh.write(chunk);
    await fh.close();
    // Sizes like a tree's per-process images (core, mm, pagemap, fs, ids, ...).
    let smallBytes = 0;
    for (let i = 0; i < smallCount; i++) {
      const size = [26, 36, 230, 1421, 2613, 4096 * 3][i % 6] as number;
      smallBytes += size;
      await fsp.writeFile(path.join(smallDir, `img-${String(i).padStart(4, '0')}.img`), chunk.subarray(0, size));
    }

    const agentDigest = (await digestDirectory(bigDir))[0]?.xxh64;
    const dbl = await doubleBufferedDigest(big);
    if (agentDigest !== dbl) throw new Error(`double-buffered digest ${dbl} differs from the agent's ${String(agentDigest)}`);
    const agentSmall = (await digestDirectory(smallDir)).map((d) => d.xxh64);
    if (agentSmall.join() !== syncSmallDigests(smallDir).join()) throw new Error("synchronous small-file digests differ from the agent's");

    const t = await timeInterleaved(reps, {
      agentBig: () => digestDirectory(bigDir),
      readOnlyBig: () => readOnly(big),
      hashOnlyBig: () => hashOnly(bigMiB * 2 ** 20),
      doubleBufferedBig: () => doubleBufferedDigest(big),
      xxh3Big: () => xxh3Digest(big),
      xxh3DoubleBufferedBig: () => doubleBufferedDigest(big, xxh3.Xxh3.withSeed(0n)),
      xxh3OnlyBig: () => hashOnly(bigMiB * 2 ** 20, xxh3.Xxh3.withSeed(0n)),
      agentSmall: () => digestDirectory(smallDir),
      syncSmall: () => syncSmallDigests(smallDir),
    });
    return { bigFileMiB: bigMiB, smallFiles: smallCount, smallFileBytes: smallBytes, ...t };
  } finally {
    await fsp.rm(bigDir, { recursive: true, force: true });
    await fsp.rm(smallDir, { recursive: true, force: true });
  }
}
