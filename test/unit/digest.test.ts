/**
 * Checksums of checkpoint directories: sizes around the 4 MiB chunk boundary,
 * symlinks never followed, and every kind of damage verifyDirectory must name.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';

import { AgentError } from '../../src/errors';
import { DIGEST_ALGORITHM, digestDirectory, verifyDirectory, verifyDirectoryDeferring, type FileDigest } from '../../src/store/digest';
import { agentRejection } from '../helpers/errors';

const MiB = 1024 * 1024;

/** The documented scheme, computed independently from a whole-file buffer. */
function referenceDigest(content: Buffer): string {
  return xxh64(content, 0n).toString(16).padStart(16, '0');
}

const SIZES: Record<string, number> = {
  'empty.img': 0,
  'one.img': 1,
  'pages-exact.img': 4 * MiB,
  'pages-plus-one.img': 4 * MiB + 1,
  'pages-nine.img': 9 * MiB,
  'sub/inner.img': 1000,
};

let root: string;
let template: string;
let dir: string;
let expected: FileDigest[];
const contents = new Map<string, Buffer>();

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'criu-agent-digest-'));
  template = path.join(root, 'template');
  await fsp.mkdir(path.join(template, 'sub'), { recursive: true });
  for (const [name, size] of Object.entries(SIZES)) {
    const content = randomBytes(size);
    contents.set(name, content);
    await fsp.writeFile(path.join(template, name), content);
  }
  // Like CRIU's "parent" link: relative, and dangling outside the checkpoints dir.
  await fsp.symlink('../pre-dump-1', path.join(template, 'parent'));
  expected = await digestDirectory(template);
});

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(root, 'copy-'));
  await fsp.cp(template, dir, { recursive: true, verbatimSymlinks: true });
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('digestDirectory', () => {
  it('lists every regular file and symlink, sorted by path, with sizes and link targets', () => {
    expect(DIGEST_ALGORITHM).toBe('xxh64');
    expect(expected.map((d) => d.path)).toEqual([
      'empty.img',
      'one.img',
      'pages-exact.img',
      'pages-nine.img',
      'pages-plus-one.img',
      'parent',
      'sub/inner.img',
    ]);
    for (const d of expected) {
      if (d.path === 'parent') {
        expect(d).toEqual({ path: 'parent', size: '../pre-dump-1'.length, symlink: '../pre-dump-1' });
      } else {
        expect(d.size).toBe(SIZES[d.path]);
        expect(d.xxh64).toMatch(/^[0-9a-f]{16}$/);
        expect(d.symlink).toBeUndefined();
      }
    }
    expect(new Set(expected.map((d) => d.xxh64)).size).toBe(expected.length);
  });

  it('follows the documented scheme for every size, around the 4 MiB read boundary', () => {
    for (const d of expected) {
      if (d.symlink === undefined) expect(d.xxh64).toBe(referenceDigest(contents.get(d.path)!));
    }
    // XXH64 of nothing, seed 0 (the reference value from the xxHash project).
    expect(expected[0]!.xxh64).toBe('ef46db3751d8e999');
  });

  it('is the same for a copy of the directory', async () => {
    expect(await digestDirectory(dir)).toEqual(expected);
  });

  it('skips excluded paths, and excluded directories whole', async () => {
    const got = await digestDirectory(dir, { exclude: ['one.img', 'sub', 'no-such-file'] });
    expect(got).toEqual(expected.filter((d) => d.path !== 'one.img' && !d.path.startsWith('sub/')));
  });

  it('refuses a FIFO, naming it', async () => {
    execFileSync('mkfifo', [path.join(dir, 'sub', 'fifo')]);
    const err = await agentRejection(digestDirectory(dir));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toMatch(/sub\/fifo is a FIFO/);
  });

  it('does not follow a symlink to a directory', async () => {
    await fsp.symlink('sub', path.join(dir, 'linked-sub'));
    const got = await digestDirectory(dir);
    expect(got.filter((d) => d.path.startsWith('linked-sub'))).toEqual([{ path: 'linked-sub', size: 3, symlink: 'sub' }]);
  });
});

describe('verifyDirectory', () => {
  async function damage(): Promise<AgentError> {
    const err = await agentRejection(verifyDirectory(dir, expected));
    expect(err.kind).toBe('data-loss');
    expect(err.message).toContain(dir);
    return err;
  }

  it('passes on an intact copy', async () => {
    await expect(verifyDirectory(dir, expected)).resolves.toBeUndefined();
  });

  it('names a file with one flipped byte, in the last chunk or the first', async () => {
    for (const [name, offset] of [
      ['pages-nine.img', 9 * MiB - 1],
      ['pages-plus-one.img', 0],
    ] as const) {
      const file = path.join(dir, name);
      const fh = await fsp.open(file, 'r+');
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, offset);
      b[0] = b[0]! ^ 0x01;
      await fh.write(b, 0, 1, offset);
      await fh.close();
      const err = await damage();
      expect(err.message).toMatch(
        new RegExp(`\\b${name.replace('.', '\\.')}: content differs \\(xxh64 [0-9a-f]{16}, expected [0-9a-f]{16}\\)`),
      );
      await fsp.writeFile(file, contents.get(name)!);
    }
    await verifyDirectory(dir, expected);
  });

  it('names a truncated file with both sizes', async () => {
    await fsp.truncate(path.join(dir, 'pages-plus-one.img'), 4 * MiB);
    expect((await damage()).message).toMatch(/pages-plus-one\.img: size is 4194304 bytes, expected 4194305/);
  });

  it('names a deleted file', async () => {
    await fsp.rm(path.join(dir, 'sub', 'inner.img'));
    expect((await damage()).message).toMatch(/sub\/inner\.img: missing \(was a regular file\)/);
  });

  it('names an added file', async () => {
    await fsp.writeFile(path.join(dir, 'sub', 'new.img'), 'x');
    expect((await damage()).message).toMatch(/sub\/new\.img: extra regular file, not in the recorded digest/);
  });

  it('names a regular file replaced by a symlink to an identical copy', async () => {
    const copy = path.join(root, 'identical-copy.img');
    await fsp.copyFile(path.join(dir, 'pages-exact.img'), copy);
    await fsp.rm(path.join(dir, 'pages-exact.img'));
    await fsp.symlink(copy, path.join(dir, 'pages-exact.img'));
    expect((await damage()).message).toMatch(
      new RegExp(`pages-exact\\.img: a symlink to ${copy.replace(/[.]/g, '\\.')} replaced the regular file`),
    );
  });

  it('names a symlink replaced by a regular file', async () => {
    await fsp.rm(path.join(dir, 'parent'));
    await fsp.writeFile(path.join(dir, 'parent'), '../pre-dump-1');
    expect((await damage()).message).toMatch(/parent: a regular file replaced the symlink to \.\.\/pre-dump-1/);
  });

  it('names a changed symlink target', async () => {
    await fsp.rm(path.join(dir, 'parent'));
    await fsp.symlink('../pre-dump-2', path.join(dir, 'parent'));
    expect((await damage()).message).toMatch(/parent: symlink target is \.\.\/pre-dump-2, expected \.\.\/pre-dump-1/);
  });

  it('names a directory where a symlink was', async () => {
    await fsp.rm(path.join(dir, 'parent'));
    await fsp.mkdir(path.join(dir, 'parent'));
    await fsp.writeFile(path.join(dir, 'parent', 'inventory.img'), 'x');
    expect((await damage()).message).toMatch(
      /parent: is a directory, expected a symlink to \.\.\/pre-dump-1; parent\/inventory\.img: extra regular file/,
    );
  });

  it('names a FIFO where a file was', async () => {
    await fsp.rm(path.join(dir, 'one.img'));
    execFileSync('mkfifo', [path.join(dir, 'one.img')]);
    expect((await damage()).message).toMatch(/one\.img: is a FIFO, expected a regular file/);
  });

  it('names every problem, sorted by path', async () => {
    await fsp.rm(path.join(dir, 'one.img'));
    await fsp.writeFile(path.join(dir, 'empty.img'), 'now not empty');
    await fsp.writeFile(path.join(dir, 'zz.img'), '');
    const err = await damage();
    expect(err.message).toMatch(
      /\(3 problems\): empty\.img: size is 13 bytes, expected 0; one\.img: missing \(was a regular file\); zz\.img: extra regular file/,
    );
  });

  it('shows the first ten problems and counts the rest', async () => {
    for (let i = 0; i < 15; i++) await fsp.writeFile(path.join(dir, `extra-${String(i).padStart(2, '0')}`), '');
    const err = await damage();
    expect(err.message).toMatch(/\(15 problems\)/);
    expect(err.message).toMatch(/extra-09: extra regular file, not in the recorded digest; and 5 more$/);
    expect(err.message).not.toMatch(/extra-10/);
  });

  it('ignores excluded paths on both sides', async () => {
    await fsp.writeFile(path.join(dir, 'checkpoint.json'), '{}');
    await fsp.rm(path.join(dir, 'sub'), { recursive: true });
    await verifyDirectory(dir, expected, { exclude: ['checkpoint.json', 'sub'] });
    const partial = await digestDirectory(dir, { exclude: ['checkpoint.json'] });
    await fsp.writeFile(path.join(dir, 'checkpoint.json'), '{"changed": true}');
    await verifyDirectory(dir, partial, { exclude: ['checkpoint.json'] });
    expect((await agentRejection(verifyDirectory(dir, partial))).message).toMatch(/checkpoint\.json: extra regular file/);
  });
});

describe('verifyDirectoryDeferring', () => {
  const pagesOnly = { defer: (p: string) => /^pages-/.test(p) };

  async function flip(name: string, offset: number): Promise<void> {
    const fh = await fsp.open(path.join(dir, name), 'r+');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0x01;
    await fh.write(b, 0, 1, offset);
    await fh.close();
  }

  it('defers the hashing of the files named, and passes on an intact copy', async () => {
    const d = await verifyDirectoryDeferring(dir, expected, pagesOnly);
    try {
      expect([...d.paths].sort()).toEqual(['pages-exact.img', 'pages-nine.img', 'pages-plus-one.img']);
      await expect(d.verify()).resolves.toBeUndefined();
    } finally {
      await d.close();
    }
  });

  it('finds damage to the other files at once, and to a deferred one only in verify(), in the same words as verifyDirectory', async () => {
    await flip('one.img', 0);
    const now = await agentRejection(verifyDirectoryDeferring(dir, expected, pagesOnly));
    expect(now.kind).toBe('data-loss');
    expect(now.message).toMatch(/one\.img: content differs/);
    await fsp.writeFile(path.join(dir, 'one.img'), contents.get('one.img')!);

    await flip('pages-nine.img', 5 * MiB);
    const d = await verifyDirectoryDeferring(dir, expected, pagesOnly);
    try {
      const later = await agentRejection(d.verify());
      expect(later.kind).toBe('data-loss');
      expect(later.message).toMatch(
        new RegExp(
          `^${dir} does not match its recorded digest \\(1 problem\\): pages-nine\\.img: content differs \\(xxh64 [0-9a-f]{16}, expected [0-9a-f]{16}\\)$`,
        ),
      );
    } finally {
      await d.close();
    }
  });

  it('checks the size of a deferred file at once', async () => {
    await fsp.truncate(path.join(dir, 'pages-nine.img'), MiB);
    expect((await agentRejection(verifyDirectoryDeferring(dir, expected, pagesOnly))).message).toMatch(
      /pages-nine\.img: size is 1048576 bytes, expected 9437184/,
    );
  });

  it('catches a deferred file replaced, after the check, by another with the right bytes', async () => {
    const d = await verifyDirectoryDeferring(dir, expected, pagesOnly);
    try {
      // A reader opening the path now gets the new file, not the one hashed.
      const other = path.join(dir, '.swap');
      await fsp.writeFile(other, contents.get('pages-exact.img')!);
      await fsp.rename(other, path.join(dir, 'pages-exact.img'));
      expect((await agentRejection(d.verify())).message).toMatch(
        /pages-exact\.img: changed while being verified: another file took its place/,
      );
    } finally {
      await d.close();
    }
  });

  it('catches a deferred file written to after the check, even with the same bytes', async () => {
    const d = await verifyDirectoryDeferring(dir, expected, pagesOnly);
    try {
      await fsp.writeFile(path.join(dir, 'pages-plus-one.img'), contents.get('pages-plus-one.img')!);
      expect((await agentRejection(d.verify())).message).toMatch(
        /pages-plus-one\.img: changed while being verified: written to or otherwise modified/,
      );
    } finally {
      await d.close();
    }
  });

  it('close() stops a verification: it rejects as cancelled', async () => {
    const d = await verifyDirectoryDeferring(dir, expected, pagesOnly);
    await d.close();
    expect((await agentRejection(d.verify())).kind).toBe('cancelled');
  });
});

describe('throughput', () => {
  it('hashes a 512 MiB file from the page cache (printed, not asserted)', async () => {
    const big = await fsp.mkdtemp(path.join(root, 'big-'));
    const block = randomBytes(4 * MiB);
    const fh = await fsp.open(path.join(big, 'pages-1.img'), 'w');
    for (let i = 0; i < 128; i++) await fh.write(block);
    await fh.close();
    // Read once so that the timed runs find every page cached.
    await digestDirectory(big);
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      await digestDirectory(big);
      runs.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const best = Math.min(...runs);
    console.log(
      `digestDirectory: 512 MiB file in the page cache, best of 3: ${best.toFixed(3)} s = ${(512 / best).toFixed(0)} MiB/s ` +
        `(runs: ${runs.map((s) => s.toFixed(3)).join(', ')} s)`,
    );
    await fsp.rm(big, { recursive: true, force: true });
  }, 180_000);
});
