/**
 * PreDump for real: runs inside the test VM (npm run test:vm), whose kernel
 * tracks memory with soft-dirty bits, against the built agent and real CRIU.
 * The host suite cannot do this (its kernel has no soft-dirty tracking), and
 * its jest config does not collect this folder.
 *
 * Measurements go to the file named by CRIU_VM_REPORT (the guest script prints
 * it after jest), or to stdout.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CheckResponse__Output } from '../../src/generated/criu_agent/v1/CheckResponse';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import type { PreDumpResponse__Output } from '../../src/generated/criu_agent/v1/PreDumpResponse';
import type { RestoreResponse__Output } from '../../src/generated/criu_agent/v1/RestoreResponse';
import { waitForPidFree, waitForTreeStatus } from '../../src/proctree';
import { call, expectStatus, startAgent, type AgentProcess } from '../helpers/agent';
import { killAllTargets, startTarget } from '../helpers/target';
import { startDirtier, type Dirtier } from './dirtier';
import { readDumpStats as readStatsFile, type DumpStats } from '../../src/criu/stats';

// TCG emulation is slow: a 256 MiB dump takes seconds.
jest.setTimeout(600_000);

/** The dirtying target's shape, the same for the chain and for the comparison dump. */
const DIRTIER = { mib: 256, fraction: 0.005, cluster: 16, intervalMs: 200 };
/** How long the target runs (and dirties) before each PreDump. */
const ROUND_MS = 1000;
/** And before the final Dump: it follows the last PreDump closely, as when migrating. */
const FINAL_MS = 2 * DIRTIER.intervalMs;
const PRE_DUMPS = 3;

let agent: AgentProcess;
let seq = 0;
const newId = (what: string): string => `vm-${what}-${process.pid}-${seq++}`;
const dirtiers: Dirtier[] = [];
/** Stats of the chain's final Dump, compared against a plain Dump. */
let chainFinal: DumpStats | undefined;

const dump = (req: object) => call<DumpResponse__Output>(agent.client, 'Dump', req);
const preDump = (req: object) => call<PreDumpResponse__Output>(agent.client, 'PreDump', req);
const restore = (req: object) => call<RestoreResponse__Output>(agent.client, 'Restore', req);
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

function report(line: string): void {
  const file = process.env.CRIU_VM_REPORT;
  if (file) fs.appendFileSync(file, `${line}\n`);
  else process.stdout.write(`${line}\n`);
}

const ms = (us: number): string => `${(us / 1000).toFixed(1)} ms`;

/** CRIU's stats-dump of a checkpoint; every dump here must have one. */
async function readDumpStats(imagesDir: string): Promise<DumpStats> {
  const s = await readStatsFile(imagesDir);
  if (!s) throw new Error(`no stats-dump in ${imagesDir}`);
  return s;
}

function describeStats(s: DumpStats): string {
  return (
    `frozen ${ms(s.frozenTimeUs)} (freezing ${ms(s.freezingTimeUs)}, memdump ${ms(s.memdumpTimeUs)}, memwrite ${ms(s.memwriteTimeUs)}); ` +
    `pages scanned ${s.pagesScanned}, skipped_parent ${s.pagesSkippedParent}, written ${s.pagesWritten}`
  );
}

function thpSetting(): string {
  try {
    return /\[(\w+)\]/.exec(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'not available';
  }
}

function anonHugeKiB(pid: number): string {
  try {
    return /AnonHugePages:\s+(\d+ kB)/.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? '?';
  } catch {
    return '?';
  }
}

async function newDirtier(): Promise<Dirtier> {
  const d = await startDirtier(DIRTIER);
  dirtiers.push(d);
  return d;
}

async function expectRunning(pid: number): Promise<void> {
  const { status } = await waitForTreeStatus(pid, 'running', 10_000);
  expect(status).toBe('running');
}

beforeAll(async () => {
  agent = await startAgent();
});

afterEach(async () => {
  for (const d of dirtiers.splice(0)) await d.kill();
  await killAllTargets();
});

afterAll(async () => {
  await agent?.dispose();
});

describe('in a kernel with soft-dirty tracking', () => {
  it('Check reports mem_track=true', async () => {
    const r = await call<CheckResponse__Output>(agent.client, 'Check', {});
    report(
      `Check: CRIU ${r.criu_version} via ${r.criu_transport}, kernel ${r.kernel}, mem_track=${r.mem_track}, lazy_pages=${r.lazy_pages}, pidfd_store=${r.pidfd_store}`,
    );
    report(`THP (/sys/kernel/mm/transparent_hugepage/enabled): ${thpSetting()}`);
    expect(r.mem_track).toBe(true);
  });

  it(`a chain of ${PRE_DUMPS} PreDumps and a Dump on the last: Restore brings the memory back intact`, async () => {
    const d = await newDirtier();
    report(
      `PreDump chain: target pid ${d.pid}, ${DIRTIER.mib} MiB, ${DIRTIER.fraction * 100}% of its pages dirtied ` +
        `(in runs of ${DIRTIER.cluster}) every ${DIRTIER.intervalMs} ms, ` +
        `AnonHugePages ${anonHugeKiB(d.pid)}`,
    );
    let parent = '';
    let lastRounds = -1;
    for (let i = 1; i <= PRE_DUMPS; i++) {
      await sleep(ROUND_MS);
      const id = newId(`pre${i}`);
      const started = Date.now();
      const r = await preDump({ pid: d.pid, checkpoint_id: id, parent_checkpoint_id: parent });
      const took = Date.now() - started;
      expect(r.final_state).toBe('FINAL_STATE_RUNNING');
      expect(r.final_state_ignored).toBe(false);
      const s = await readDumpStats(r.images_dir);
      report(`  PreDump ${i}${parent ? ` (parent ${parent})` : ''}: ${took} ms; ${describeStats(s)}`);
      expect(s.pagesScanned).toBeGreaterThan(0);
      // The tree kept running (and dirtying) through the pre-dump.
      await expectRunning(d.pid);
      const st = await d.state();
      expect(st.rounds).toBeGreaterThan(lastRounds);
      lastRounds = st.rounds;
      parent = id;
    }
    await sleep(FINAL_MS);
    // Dirtying stops so that the memory at the dump is known (its hash).
    const before = await d.pause();
    expect(before.bad_pages).toBe(0);
    const id = newId('final');
    const started = Date.now();
    const r = await dump({ pid: d.pid, checkpoint_id: id, parent_checkpoint_id: parent });
    const took = Date.now() - started;
    expect(r.final_state).toBe('FINAL_STATE_DEAD');
    const s = await readDumpStats(r.images_dir);
    report(`  Dump on PreDump ${PRE_DUMPS}: ${took} ms; ${describeStats(s)}`);
    if (s.pagesSkippedParent === 0) {
      // CRIU takes a page from the parent only when the dump also tracks
      // memory (criu/mem.c: opts.track_mem && opts.img_parent && !dirty).
      throw new Error(
        `the Dump on PreDump ${parent} wrote all ${s.pagesWritten} pages again (pages_skipped_parent=0): ` +
          "CRIU reuses the parent's pages only when the dump request sets track_mem along with parent_img",
      );
    }
    // Only what changed since the last pre-dump was written.
    expect(s.pagesWritten).toBeLessThan(before.pages / 4);
    chainFinal = s;

    expect(await waitForPidFree(d.pid, 15_000)).toBe(true);
    const rr = await restore({ checkpoint_id: id });
    expect(rr.pid).toBe(d.pid);
    expect(rr.final_state).toBe('FINAL_STATE_RUNNING');
    const after = await d.verify();
    report(
      `  Restore: memory sha256 ${after.mem_sha256 === before.mem_sha256 ? 'equal to' : 'DIFFERENT from'} the one at the dump ` +
        `(${after.mem_sha256.slice(0, 16)}...), ${after.bad_pages} pages with a wrong version, ${after.dirtied} page writes over ${after.rounds} rounds before the dump`,
    );
    expect(after.mem_sha256).toBe(before.mem_sha256);
    expect(after.bad_pages).toBe(0);
    expect(after.rounds).toBe(before.rounds);
    // And it carries on where it stopped.
    await d.resume();
    await sleep(3 * DIRTIER.intervalMs);
    expect((await d.state()).rounds).toBeGreaterThan(before.rounds);
    expect((await d.verify()).bad_pages).toBe(0);
  });

  it('the chain saved frozen time: a plain Dump of the same kind of tree is frozen longer', async () => {
    if (chainFinal === undefined) throw new Error('the chain test did not produce its final Dump');
    const d = await newDirtier();
    await sleep(ROUND_MS * PRE_DUMPS + FINAL_MS);
    const before = await d.pause();
    expect(before.bad_pages).toBe(0);
    const started = Date.now();
    const r = await dump({ pid: d.pid, checkpoint_id: newId('plain') });
    const took = Date.now() - started;
    const s = await readDumpStats(r.images_dir);
    report(`  Plain Dump of the same kind of tree (no parent): ${took} ms; ${describeStats(s)}`);
    report(
      `  Frozen time: ${ms(chainFinal.frozenTimeUs)} after ${PRE_DUMPS} PreDumps vs ${ms(s.frozenTimeUs)} without: ` +
        `${(s.frozenTimeUs / Math.max(1, chainFinal.frozenTimeUs)).toFixed(1)}x less`,
    );
    expect(s.pagesSkippedParent).toBe(0);
    expect(s.pagesWritten).toBeGreaterThan(before.pages);
    expect(chainFinal.frozenTimeUs).toBeLessThan(s.frozenTimeUs);
  });

  it('PreDump with each requested final state leaves the tree running; final_state_ignored exactly for STOPPED and DEAD', async () => {
    const t = await startTarget({ children: 1 });
    const ids: string[] = [];
    for (const final_state of ['FINAL_STATE_UNSPECIFIED', 'FINAL_STATE_RUNNING', 'FINAL_STATE_STOPPED', 'FINAL_STATE_DEAD']) {
      const before = await t.query(10_000);
      const id = newId(`fs-${final_state.replace('FINAL_STATE_', '').toLowerCase()}`);
      const r = await preDump({ pid: t.pid, checkpoint_id: id, final_state });
      const ignored = final_state === 'FINAL_STATE_STOPPED' || final_state === 'FINAL_STATE_DEAD';
      report(`PreDump requesting ${final_state}: final_state ${r.final_state}, final_state_ignored ${r.final_state_ignored}`);
      expect(r.final_state).toBe('FINAL_STATE_RUNNING');
      expect(r.final_state_ignored).toBe(ignored);
      expect([...r.pids].sort()).toEqual([...t.allPids].sort());
      expect(fs.existsSync(path.join(r.images_dir, 'checkpoint.json'))).toBe(true);
      expect((await readDumpStats(r.images_dir)).pagesScanned).toBeGreaterThan(0);
      await expectRunning(t.pid);
      const after = await t.query(10_000);
      expect(after.counter).toBeGreaterThan(before.counter);
      expect(after.mem_sha256_now).toBe(after.mem_sha256_at_start);
      ids.push(id);
    }
    // A pre-dump alone is not a checkpoint that can be restored.
    await expectStatus(restore({ checkpoint_id: ids[0] }), grpc.status.FAILED_PRECONDITION, /is a pre-dump/);
    await expectRunning(t.pid);
  });
});
