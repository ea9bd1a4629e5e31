/**
 * CRIU's stats-dump and stats-restore images: files written by the real CRIU
 * (a dump and a restore of a sleep), and hand-built ones for the error paths.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as protobuf from 'protobufjs';

import { loadConfig } from '../../src/config';
import { readDumpStats, readRestoreStats, DUMP_STATS_FILE, RESTORE_STATS_FILE } from '../../src/criu/stats';
import { pidInUse, waitForPidFree } from '../../src/proctree';
import { loadCriuRoot } from '../../src/proto';
import { agentRejection } from '../helpers/errors';

const run = promisify(execFile);
const IMG_SERVICE_MAGIC = 0x55105940;
const STATS_MAGIC = 0x57093306;
// A duration no other process here sleeps for, so that cleanup can tell the
// test's sleep (or its restored copy) from an unrelated process given the pid.
const SLEEP_ARG = '3607';
// Orphans (the restored sleep is one) are reaped by PID 1, here only every 1-2 s.
const PID_FREE_TIMEOUT_MS = 10_000;

/** A CRIU image: the service magic, the stats magic, one length-prefixed entry. */
function image(entry: Uint8Array, magics: [number, number] = [IMG_SERVICE_MAGIC, STATS_MAGIC], claimedLength = entry.length): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt32LE(magics[0], 0);
  head.writeUInt32LE(magics[1], 4);
  head.writeUInt32LE(claimedLength, 8);
  return Buffer.concat([head, entry]);
}

const statsEntry = loadCriuRoot().lookupType('criu.stats_entry');
const encode = (obj: object): Uint8Array => statsEntry.encode(statsEntry.fromObject(obj)).finish();

/** Field number and wire type of every field of a protobuf message, recursing into `nested` field numbers. */
function fieldsOf(buf: Uint8Array): { field: number; wire: number; value?: number; nested?: ReturnType<typeof fieldsOf> }[] {
  const r = protobuf.Reader.create(buf);
  const out: ReturnType<typeof fieldsOf> = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      // A Long when long.js is installed, a number otherwise.
      const v = r.uint64() as protobuf.Long | number;
      out.push({ field, wire, value: typeof v === 'number' ? v : v.high * 2 ** 32 + (v.low >>> 0) });
    } else if (wire === 2) out.push({ field, wire, nested: fieldsOf(r.bytes()) });
    else {
      out.push({ field, wire });
      r.skipType(wire);
    }
  }
  return out;
}

describe('statistics written by CRIU', () => {
  const criu = loadConfig({ env: process.env }).criuPath;
  let dir: string;
  let sleeper: ChildProcess;
  let pid: number;

  function isOurSleep(p: number): boolean {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(SLEEP_ARG);
    } catch {
      return false;
    }
  }

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'criu-agent-stats-'));
    // detached: setsid(2) in the child, as CRIU dumps only session leaders
    // unless told it is a shell job; stdio to /dev/null, which CRIU can restore.
    sleeper = spawn('sleep', [SLEEP_ARG], { detached: true, stdio: 'ignore' });
    if (sleeper.pid === undefined) throw new Error('sleep did not start');
    pid = sleeper.pid;
  });

  afterAll(async () => {
    if (pid !== undefined && isOurSleep(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await waitForPidFree(pid, PID_FREE_TIMEOUT_MS);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads stats-dump after a dump with --leave-running', async () => {
    await run(criu, ['dump', '-t', String(pid), '-D', dir, '--leave-running', '-o', 'dump.log', '-v4']);
    const stats = await readDumpStats(dir);
    expect(stats).toBeDefined();
    const s = stats!;
    expect(s.pagesWritten).toBeGreaterThan(0);
    expect(s.pagesScanned).toBeGreaterThanOrEqual(s.pagesWritten);
    expect(s.pagesSkippedParent).toBe(0);
    expect(s.pagesLazy).toBe(0);
    expect(s.frozenTimeUs).toBeGreaterThan(0);
    expect(s.frozenTimeUs).toBeLessThan(60_000_000);
    expect(s.memdumpTimeUs).toBeGreaterThan(0);
    for (const v of Object.values(s)) expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
    expect(isOurSleep(pid)).toBe(true);
  });

  it('knows every field CRIU writes into stats-dump, with its wire type', () => {
    const raw = readFileSync(path.join(dir, DUMP_STATS_FILE));
    expect(raw.readUInt32LE(0)).toBe(IMG_SERVICE_MAGIC);
    expect(raw.readUInt32LE(4)).toBe(STATS_MAGIC);
    const top = fieldsOf(raw.subarray(12, 12 + raw.readUInt32LE(8)));
    expect(top.map((f) => [f.field, f.wire])).toEqual([[1, 2]]);
    const dump = top[0]!.nested!;
    // CRIU 4.2.1 writes 1-14, all varints; proto/criu/stats.proto declares each as a varint type.
    expect(dump.every((f) => f.wire === 0)).toBe(true);
    const known = statsEntry.root.lookupType('criu.dump_stats_entry').fieldsById;
    for (const f of dump) expect(known[f.field]).toBeDefined();
    const byField = new Map(dump.map((f) => [f.field, f.value]));
    expect(byField.get(10)).toBeGreaterThan(0); // page_pipes
    expect(byField.get(11)).toBeGreaterThanOrEqual(byField.get(10)!); // page_pipe_bufs
  });

  it('reads stats-restore after a restore of the dump', async () => {
    process.kill(pid, 'SIGKILL');
    expect(await waitForPidFree(pid, PID_FREE_TIMEOUT_MS)).toBe(true);
    expect(await readRestoreStats(dir)).toBeUndefined();

    await run(criu, ['restore', '-D', dir, '-d', '-o', 'restore.log', '-v4']);
    expect(await pidInUse(pid)).toBe(true);
    expect(isOurSleep(pid)).toBe(true);

    const stats = await readRestoreStats(dir);
    expect(stats).toBeDefined();
    const r = stats!;
    const dumped = (await readDumpStats(dir))!;
    expect(r.pagesRestored).toBe(dumped.pagesWritten);
    expect(r.restoreTimeUs).toBeGreaterThan(0);
    expect(r.restoreTimeUs).toBeLessThan(60_000_000);
    expect(r.pagesCompared).toBe(0);
    expect(r.pagesSkippedCow).toBe(0);
    for (const v of Object.values(r)) expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
  });
});

describe('hand-built statistics images', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'criu-agent-stats-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const dump = {
    freezing_time: 11,
    frozen_time: 2222,
    memdump_time: 333,
    memwrite_time: 44,
    pages_scanned: '9007199254740991',
    pages_skipped_parent: 6,
    pages_written: 7,
    pages_lazy: 9,
    page_pipes: 10,
  };

  it('is undefined when the file is absent', async () => {
    expect(await readDumpStats(dir)).toBeUndefined();
    expect(await readRestoreStats(dir)).toBeUndefined();
    expect(await readDumpStats(path.join(dir, 'no-such-dir'))).toBeUndefined();
  });

  it('decodes every field, up to the largest safe integer', async () => {
    writeFileSync(path.join(dir, DUMP_STATS_FILE), image(encode({ dump })));
    writeFileSync(
      path.join(dir, RESTORE_STATS_FILE),
      image(encode({ restore: { pages_compared: 1, pages_skipped_cow: 2, forking_time: 3, restore_time: 4, pages_restored: 5 } })),
    );
    expect(await readDumpStats(dir)).toEqual({
      freezingTimeUs: 11,
      frozenTimeUs: 2222,
      memdumpTimeUs: 333,
      memwriteTimeUs: 44,
      pagesScanned: Number.MAX_SAFE_INTEGER,
      pagesSkippedParent: 6,
      pagesWritten: 7,
      pagesLazy: 9,
    });
    expect(await readRestoreStats(dir)).toEqual({
      pagesCompared: 1,
      pagesSkippedCow: 2,
      forkingTimeUs: 3,
      restoreTimeUs: 4,
      pagesRestored: 5,
    });
  });

  it('takes a missing optional pages_restored as 0', async () => {
    writeFileSync(
      path.join(dir, RESTORE_STATS_FILE),
      image(encode({ restore: { pages_compared: 1, pages_skipped_cow: 2, forking_time: 3, restore_time: 4 } })),
    );
    expect((await readRestoreStats(dir))?.pagesRestored).toBe(0);
  });

  it.each([
    [
      'a wrong service magic',
      image(encode({ dump }), [0x54564319, STATS_MAGIC]),
      /starts with 0x54564319, not CRIU's IMG_SERVICE_MAGIC 0x55105940/,
    ],
    [
      'another image magic',
      image(encode({ dump }), [IMG_SERVICE_MAGIC, 0x56084025]),
      /image magic is 0x56084025, not STATS_MAGIC 0x57093306/,
    ],
    ['a text file', Buffer.from('{"dump": {}}\n'), /starts with 0x7564227b/],
    ['a file shorter than the header', Buffer.from([0x40, 0x59, 0x10]), /only 3 bytes long/],
    ['a truncated entry', image(encode({ dump })).subarray(0, 20), /entry claims \d+ bytes but 8 follow the header/],
    ['trailing bytes', Buffer.concat([image(encode({ dump })), Buffer.from([0, 0, 0, 0])]), /more than one entry/],
    // protobufjs always encodes required fields, so this entry is built by hand: dump { freezing_time: 1 }.
    ['a missing required field', image(Buffer.from([0x0a, 0x02, 0x08, 0x01])), /does not decode: missing required 'frozen_time'/],
    [
      'no dump entry',
      image(encode({ restore: { pages_compared: 1, pages_skipped_cow: 2, forking_time: 3, restore_time: 4 } })),
      /holds no dump statistics/,
    ],
    [
      'a page count above 2^53',
      image(encode({ dump: { ...dump, pages_written: '9007199254740993' } })),
      /pages_written is 9007199254740993/,
    ],
  ])('throws data-loss on %s, naming the file', async (_name, content, message) => {
    const file = path.join(dir, DUMP_STATS_FILE);
    writeFileSync(file, content);
    const err = await agentRejection(readDumpStats(dir));
    expect(err.kind).toBe('data-loss');
    expect(err.message).toContain(`${file} is not a valid CRIU statistics image`);
    expect(err.message).toMatch(message);
  });

  it('throws data-loss when stats-restore holds dump statistics', async () => {
    writeFileSync(path.join(dir, RESTORE_STATS_FILE), image(encode({ dump })));
    const err = await agentRejection(readRestoreStats(dir));
    expect(err.kind).toBe('data-loss');
    expect(err.message).toMatch(/stats-restore is not a valid CRIU statistics image: it holds no restore statistics/);
  });

  it('refuses a file far larger than a stats image without reading it', async () => {
    writeFileSync(path.join(dir, DUMP_STATS_FILE), Buffer.alloc(1 << 20));
    expect((await agentRejection(readDumpStats(dir))).message).toMatch(/1048576 bytes long, far more than a stats image/);
  });
});
