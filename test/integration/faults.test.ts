/**
 * Faults the agent must survive without harming the tree or the state
 * directory: CRIU killed mid-dump and mid-restore, the file system filling up,
 * damaged images, and a burst of concurrent requests on the same trees.
 * Real agent, real CRIU, real process trees.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import type { RestoreResponse__Output } from '../../src/generated/criu_agent/v1/RestoreResponse';
import { pidInUse, snapshotTree, waitForPidFree, waitForTreeStatus } from '../../src/proctree';
import { call, startAgent, type AgentProcess, hasDumpLog } from '../helpers/agent';
import { killAllTargets, startTarget, type Target } from '../helpers/target';
import { waitFor as poll } from '../helpers/wait';

jest.setTimeout(180_000);

type Outcome<T> = { ok: true; value: T } | { ok: false; error: grpc.ServiceError };

/** Never rejects: a call's result or its error, so a pending call can be awaited later. */
function settle<T>(p: Promise<T>): Promise<Outcome<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: grpc.ServiceError) => ({ ok: false as const, error }),
  );
}

/** The error of a call expected to fail, with its code and message checked. */
function failure<T>(o: Outcome<T>, code: grpc.status, message?: RegExp): grpc.ServiceError {
  if (o.ok) throw new Error(`expected ${grpc.status[code]}, but the call succeeded: ${JSON.stringify(o.value)}`);
  const e = o.error;
  if (e.code !== code) throw new Error(`expected ${grpc.status[code]}, got ${grpc.status[e.code] ?? e.code}: ${e.details}`);
  if (message && !message.test(e.details))
    throw new Error(`${grpc.status[code]} as expected, but ${JSON.stringify(e.details)} does not match ${message}`);
  return e;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Polled every 5 ms: a fault must catch CRIU workers that live for tens of ms. */
const waitFor = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => poll(what, probe, timeoutMs, 5);
let seq = 0;
const newId = (what: string): string => `${what}-${process.pid}-${seq++}`;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function expectAllFree(pids: readonly number[]): Promise<void> {
  const busy: number[] = [];
  for (const pid of pids) if (!(await waitForPidFree(pid, 15_000))) busy.push(pid);
  expect(busy).toEqual([]);
}

async function expectRunning(pid: number): Promise<void> {
  expect((await waitForTreeStatus(pid, 'running', 5000)).status).toBe('running');
}

/** The tree runs on with the memory it had before (the target hashes its buffer on each query). */
async function expectIntact(t: Target, counterBefore: number): Promise<void> {
  await expectRunning(t.pid);
  const s = await t.query(5000);
  expect(s.pid).toBe(t.pid);
  expect(s.mem_sha256_now).toBe(s.mem_sha256_at_start);
  expect(s.children).toEqual([...t.childPids]);
  expect(s.counter).toBeGreaterThan(counterBefore);
}

/**
 * The `criu swrk` worker of the agent that has a file open under `dir`:
 * a direct child of the agent named criu (the health probe's workers have no
 * image directory open, and the tasks CRIU forks at restore are not the
 * agent's children).
 */
async function criuWorkingIn(agentPid: number, dir: string): Promise<number | undefined> {
  const snap = await snapshotTree(agentPid);
  for (const p of snap?.processes ?? []) {
    if (p.ppid !== agentPid || p.comm !== 'criu') continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p.pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${p.pid}/fd/${fd}`).startsWith(`${dir}/`)) return p.pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

const visibleEntries = (dir: string): string[] => fs.readdirSync(dir).filter((n) => !n.startsWith('.'));
const tmpEntries = (dir: string): string[] => fs.readdirSync(dir).filter((n) => n.startsWith('.tmp-'));

afterEach(async () => {
  await killAllTargets();
});

describe('CRIU killed', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgent();
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it('mid-dump: INTERNAL saying CRIU was killed, the tree runs on intact, no checkpoint, the log kept under failed/', async () => {
    const t = await startTarget({ children: 1, extraMiB: 512 });
    const before = await t.query();
    const id = newId('kill-dump');
    const checkpoints = path.join(agent.stateDir, 'checkpoints');
    const pending = settle(call<DumpResponse__Output>(agent.client, 'Dump', { pid: t.pid, checkpoint_id: id }));

    let criuPid: number | undefined;
    try {
      // CRIU is at work once its log exists in the temporary directory.
      const tmpDir = await waitFor('the dump to start', () => {
        const n = tmpEntries(checkpoints).find((e) => e.startsWith(`.tmp-${id}-`) && hasDumpLog(path.join(checkpoints, e)));
        return n && path.join(checkpoints, n);
      });
      await sleep(100);
      criuPid = await criuWorkingIn(agent.pid, tmpDir);
      expect(criuPid).toBeDefined();
      process.kill(criuPid ?? 0, 'SIGKILL');
    } catch (e) {
      await pending; // the dump ends before afterEach kills the tree
      throw e;
    }

    const err = failure(await pending, grpc.status.INTERNAL, /CRIU dump failed: .*killed by SIGKILL/);
    // Cleaned up before the call returned: no checkpoint, nothing half-written.
    expect(fs.readdirSync(checkpoints).filter((n) => n.includes(id))).toEqual([]);
    expect(tmpEntries(checkpoints)).toEqual([]);
    // CRIU's log was kept, and the error points at it.
    const failedDir = path.join(agent.stateDir, 'failed');
    const kept = fs.readdirSync(failedDir).filter((n) => n.startsWith(`${id}-`));
    expect(kept).toHaveLength(1);
    const keptPath = path.join(failedDir, kept[0] ?? '');
    expect(err.metadata.get('criu-log')).toEqual([keptPath]);
    expect(err.details).toContain(keptPath);
    expect(fs.readFileSync(keptPath, 'utf8')).not.toMatch(/Dumping finished successfully/);

    await expectIntact(t, before.counter);
    expect((await waitForTreeStatus(criuPid ?? 0, 'gone', 5000)).status).toBe('gone');
  });

  it('mid-restore: a clear error, no half-restored tree, and the checkpoint still restores', async () => {
    const t = await startTarget({ children: 2, extraMiB: 512 });
    const before = await t.query();
    const id = newId('kill-restore');
    await call<DumpResponse__Output>(agent.client, 'Dump', { pid: t.pid, checkpoint_id: id });
    await expectAllFree(t.allPids);
    const dir = path.join(agent.stateDir, 'checkpoints', id);
    const restoreLogs = (): string[] => fs.readdirSync(dir).filter((n) => /^restore-.*\.log$/.test(n));

    const pending = settle(call<RestoreResponse__Output>(agent.client, 'Restore', { checkpoint_id: id }));
    try {
      await waitFor('the restore to start', () => (restoreLogs().length > 0 ? true : undefined));
      await sleep(100);
      const criuPid = await criuWorkingIn(agent.pid, dir);
      expect(criuPid).toBeDefined();
      process.kill(criuPid ?? 0, 'SIGKILL');
    } catch (e) {
      await pending; // a restored tree is then killed by afterEach
      throw e;
    }

    const err = failure(await pending, grpc.status.INTERNAL, /CRIU restore failed: .*killed by SIGKILL/);
    const logPath = path.join(dir, restoreLogs()[0] ?? '');
    expect(err.metadata.get('criu-log')).toEqual([logPath]);
    expect(fs.readFileSync(logPath, 'utf8')).not.toMatch(/Restore finished successfully/);

    // Whatever CRIU had created is killed; once reaped, every pid of the tree is free.
    await expectAllFree(t.allPids);
    // ... and stays free: nothing half-restored goes on forking.
    await sleep(1000);
    for (const pid of t.allPids) expect(await pidInUse(pid)).toBe(false);

    // The checkpoint is untouched and restores once nothing interrupts it.
    const r = await call<RestoreResponse__Output>(agent.client, 'Restore', { checkpoint_id: id });
    expect(r.pid).toBe(t.pid);
    expect([...r.pids].sort()).toEqual([...t.allPids].sort());
    await expectRunning(t.pid);
    const s = await t.query(5000);
    expect(s.mem_sha256_now).toBe(s.mem_sha256_at_start);
    expect(s.counter).toBeGreaterThanOrEqual(before.counter);
  });
});

describe('damaged images', () => {
  let agent: AgentProcess;
  let spare: string;
  beforeAll(async () => {
    agent = await startAgent({ args: ['--pid-wait-ms', '500'] });
    spare = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-spare-'));
  });
  afterAll(async () => {
    await agent?.dispose();
    fs.rmSync(spare, { recursive: true, force: true });
  });

  it('a flipped byte in a pages image, or an image replaced by a symlink to an identical copy, is DATA_LOSS naming the file; nothing of the tree runs', async () => {
    const witness = fs.mkdtempSync(path.join(spare, 'witness-'));
    const t = await startTarget({ children: 1, witnessDir: witness });
    const before = await t.query();
    const id = newId('damaged');
    const d = await call<DumpResponse__Output>(agent.client, 'Dump', { pid: t.pid, checkpoint_id: id });
    await expectAllFree(t.allPids);
    // Every process of the tree renames its entry here each few ms while it runs.
    const traces = (): string[] => fs.readdirSync(witness).sort();
    const lastTraces = traces();
    expect(lastTraces.map((n) => Number(n.split('.')[0])).sort()).toEqual([...t.allPids].sort());
    const pages = fs
      .readdirSync(d.images_dir)
      .filter((n) => /^pages-\d+\.img$/.test(n))
      .map((n) => ({ n, size: fs.statSync(path.join(d.images_dir, n)).size }))
      .sort((a, b) => b.size - a.size)[0];
    expect(pages).toBeDefined();
    const name = pages?.n ?? '';
    const file = path.join(d.images_dir, name);
    const restoreLogs = (): string[] => fs.readdirSync(d.images_dir).filter((n) => n.startsWith('restore-'));
    const nothingRan = async (): Promise<void> => {
      // Every pid free (whatever CRIU rebuilt was killed and reaped) ...
      await expectAllFree(t.allPids);
      // ... and none of it ever ran: the witness entries are where the dump left them.
      await sleep(500);
      for (const pid of t.allPids) expect(await pidInUse(pid)).toBe(false);
      expect(traces()).toEqual(lastTraces);
    };

    // One byte flipped in the middle of the largest pages image. The page
    // images are hashed while CRIU restores, so CRIU ran (its log is kept),
    // rebuilt the tree, and was told at post-restore to kill it.
    const offset = Math.floor((pages?.size ?? 0) / 2);
    const fd = fs.openSync(file, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, offset);
    fs.writeSync(fd, Buffer.from([(byte[0] ?? 0) ^ 0xff]), 0, 1, offset);
    fs.closeSync(fd);
    failure(
      await settle(call(agent.client, 'Restore', { checkpoint_id: id })),
      grpc.status.DATA_LOSS,
      new RegExp(`${escape(name)}: content differs`),
    );
    await nothingRan();
    const logsAfterFlip = restoreLogs();
    expect(logsAfterFlip).toHaveLength(1);
    expect(fs.readFileSync(path.join(d.images_dir, logsAfterFlip[0] ?? ''), 'utf8')).not.toMatch(/Restore finished successfully/);

    // Undone, then the image replaced by a symlink to a byte-identical copy:
    // refused before CRIU ran (no new restore log).
    const fd2 = fs.openSync(file, 'r+');
    fs.writeSync(fd2, byte, 0, 1, offset);
    fs.closeSync(fd2);
    const copy = path.join(spare, name);
    fs.copyFileSync(file, copy);
    fs.rmSync(file);
    fs.symlinkSync(copy, file);
    failure(
      await settle(call(agent.client, 'Restore', { checkpoint_id: id })),
      grpc.status.DATA_LOSS,
      new RegExp(`${escape(name)}: a symlink to ${escape(copy)} replaced the regular file`),
    );
    expect(restoreLogs()).toEqual(logsAfterFlip);
    await nothingRan();

    // With the original bytes back in place, the same checkpoint restores,
    // and the witness shows the tree running again.
    fs.rmSync(file);
    fs.copyFileSync(copy, file);
    const r = await call<RestoreResponse__Output>(agent.client, 'Restore', { checkpoint_id: id });
    expect(r.pid).toBe(t.pid);
    await expectRunning(t.pid);
    const s = await t.query(5000);
    expect(s.mem_sha256_now).toBe(s.mem_sha256_at_start);
    expect(s.counter).toBeGreaterThanOrEqual(before.counter);
    await waitFor('every process of the restored tree to leave a trace', () =>
      traces().filter((n) => !lastTraces.includes(n)).length === t.allPids.length ? true : undefined,
    );
  });
});

describe('the file system fills up', () => {
  const TMPFS_MIB = 48;
  let dir: string;
  let stateDir: string;
  let mounted = false;
  let agent: AgentProcess | undefined;
  let ghostDir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-enospc-'));
    stateDir = path.join(dir, 'state');
    fs.mkdirSync(stateDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MIB}m,mode=0700`, 'tmpfs', stateDir]);
    mounted = true;
    agent = await startAgent({ dir });
    expect(agent.stateDir).toBe(stateDir);
    // Deleted files live outside the tmpfs, on the root file system.
    ghostDir = fs.mkdtempSync('/var/tmp/criu-agent-ghost-');
  });

  afterAll(async () => {
    await agent?.stop();
    if (mounted) execFileSync('umount', [stateDir]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(ghostDir, { recursive: true, force: true });
  });

  /** Every file under the state dir (the layout's empty directories, and the running agent's agent.lock, are fine). */
  const filesIn = (d: string): string[] =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? filesIn(path.join(d, e.name)) : [path.join(d, e.name)]))
      .filter((f) => f !== path.join(stateDir, 'agent.lock'));

  it('a tree bigger than the free space: RESOURCE_EXHAUSTED before CRIU runs, with the numbers; nothing written, the tree runs on', async () => {
    const t = await startTarget({ children: 1, extraMiB: 128 });
    const before = await t.query();
    const id = newId('too-big');
    const err = failure(
      await settle(call(agent!.client, 'Dump', { pid: t.pid, checkpoint_id: id })),
      grpc.status.RESOURCE_EXHAUSTED,
      /not enough space for a checkpoint of pid \d+: its memory is about (\d+\.\d) MiB .* but .* has (\d+\.\d) MiB free/,
    );
    const [, memory, free] = /about (\d+\.\d) MiB .* has (\d+\.\d) MiB free/.exec(err.details) ?? [];
    expect(Number(memory)).toBeGreaterThanOrEqual(128);
    expect(Number(free)).toBeLessThanOrEqual(TMPFS_MIB);
    expect(err.details).toContain(path.join(stateDir, 'checkpoints'));
    expect(filesIn(stateDir)).toEqual([]);
    expect(fs.readdirSync(path.join(stateDir, 'checkpoints'))).toEqual([]);
    await expectIntact(t, before.counter);
  });

  it('CRIU running out of space mid-dump: RESOURCE_EXHAUSTED saying so, partial images removed, the tree runs on', async () => {
    // The agent's estimate counts anonymous memory only; a deleted file the
    // tree holds open is copied into the images too (up to ghost_limit), so
    // a tiny process holding a 64 MiB deleted file passes the check and then
    // fills the 48 MiB file system.
    const ghost = path.join(ghostDir, 'ghost.bin');
    fs.writeFileSync(ghost, randomBytes(64 * 1024 * 1024));
    const child = spawn('/bin/sh', ['-c', `exec 3<'${ghost}'; rm -f '${ghost}'; exec sleep 100000`], { detached: true, stdio: 'ignore' });
    const pid = child.pid ?? 0;
    try {
      await waitFor('the ghost holder', () => {
        try {
          const held = fs.readlinkSync(`/proc/${pid}/fd/3`);
          return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep' && held === `${ghost} (deleted)` ? true : undefined;
        } catch {
          return undefined;
        }
      });
      expect(fs.existsSync(ghost)).toBe(false);
      const id = newId('enospc');
      const err = failure(
        await settle(
          call(agent!.client, 'Dump', { pid, checkpoint_id: id, options: { ghost_limit: 100 * 1024 * 1024, link_remap: false } }),
        ),
        grpc.status.RESOURCE_EXHAUSTED,
        /ran out of space.*CRIU said: .*No space left on device/,
      );
      const checkpoints = path.join(stateDir, 'checkpoints');
      expect(fs.readdirSync(checkpoints)).toEqual([]);
      expect(tmpEntries(checkpoints)).toEqual([]);
      // Only CRIU's log is kept, and the error points at it.
      const failed = fs.readdirSync(path.join(stateDir, 'failed'));
      expect(failed.filter((n) => n.startsWith(`${id}-`))).toHaveLength(1);
      expect(err.metadata.get('criu-log')).toEqual([path.join(stateDir, 'failed', failed[0] ?? '')]);
      await expectRunning(pid);
      expect(fs.readlinkSync(`/proc/${pid}/fd/3`)).toBe(`${ghost} (deleted)`);
    } finally {
      child.kill('SIGKILL');
      await waitForPidFree(pid, 15_000);
    }
  });
});

describe('the file system fills after CRIU wrote the images', () => {
  const TMPFS_MIB = 64;
  let dir: string;
  let stateDir: string;
  let mounted = false;
  let agent: AgentProcess | undefined;
  let fill: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-enospc-late-'));
    stateDir = path.join(dir, 'state');
    fs.mkdirSync(stateDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MIB}m,mode=0700`, 'tmpfs', stateDir]);
    mounted = true;
    // The test-only fault fills the file system just before the agent answers CRIU's post-dump.
    agent = await startAgent({ dir, env: { CRIU_AGENT_TEST_FAULTS: 'dump:post-dump:before:fill-disk' } });
    fill = path.join(stateDir, 'checkpoints', 'test-fill-disk');
  });

  afterAll(async () => {
    await agent?.stop();
    if (mounted) execFileSync('umount', [stateDir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('Dump DEAD: RESOURCE_EXHAUSTED before the tree is killed; the tree runs on, nothing is listed, no temporary directory stays', async () => {
    const t = await startTarget({ children: 1 });
    const before = await t.query();
    const id = newId('late-enospc');
    try {
      failure(
        await settle(call(agent!.client, 'Dump', { pid: t.pid, checkpoint_id: id, final_state: 'FINAL_STATE_DEAD' })),
        grpc.status.RESOURCE_EXHAUSTED,
        new RegExp(`is full: the manifest of checkpoint ${escape(id)} could not be written; free some space`),
      );
      expect(fs.statSync(fill).size).toBeGreaterThan(0);
      await expectIntact(t, before.counter);
      const checkpoints = path.join(stateDir, 'checkpoints');
      expect(fs.readdirSync(checkpoints).filter((n) => n !== 'test-fill-disk')).toEqual([]);
      const listed = await call<{ checkpoints: unknown[] }>(agent!.client, 'ListCheckpoints', {});
      expect(listed.checkpoints).toEqual([]);
    } finally {
      fs.rmSync(fill, { force: true });
    }
  });

  it('Dump STOPPED: RESOURCE_EXHAUSTED, and the tree is running again, not left stopped', async () => {
    const t = await startTarget({ children: 1 });
    const before = await t.query();
    // A STOPPED dump writes its manifest at post-dump, before CRIU stops the
    // tree: a failure there makes CRIU resume it, as any failed dump does.
    failure(
      await settle(call(agent!.client, 'Dump', { pid: t.pid, checkpoint_id: newId('stopped-enospc'), final_state: 'FINAL_STATE_STOPPED' })),
      grpc.status.RESOURCE_EXHAUSTED,
      /is full: the manifest of checkpoint .* could not be written/,
    );
    fs.rmSync(fill, { force: true });
    await expectIntact(t, before.counter);
    expect(fs.readdirSync(path.join(stateDir, 'checkpoints'))).toEqual([]);
  });
});

describe('Continue on a full disk', () => {
  let dir: string;
  let stateDir: string;
  let mounted = false;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-enospc-cont-'));
    stateDir = path.join(dir, 'state');
    fs.mkdirSync(stateDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', stateDir]);
    mounted = true;
    agent = await startAgent({ dir });
  });

  afterAll(async () => {
    await agent?.stop();
    if (mounted) execFileSync('umount', [stateDir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a tree left STOPPED by a Dump resumes and Continue answers OK, although its record of the stop cannot be rewritten', async () => {
    const t = await startTarget({ children: 1 });
    const before = await t.query();
    await call(agent!.client, 'Dump', { pid: t.pid, checkpoint_id: newId('cont-full'), final_state: 'FINAL_STATE_STOPPED' });
    expect((await waitForTreeStatus(t.pid, 'stopped', 5000)).status).toBe('stopped');
    const filler = path.join(stateDir, 'filler');
    // dd stops at ENOSPC (exit status 1): the file system then has no byte left.
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { stdio: 'ignore' });
    } catch {
      // expected: No space left on device
    }
    expect(() => fs.writeFileSync(path.join(stateDir, 'probe'), 'x'.repeat(8192))).toThrow(/ENOSPC/);
    try {
      const r = await call<{ pids: number[]; stopped_by: string }>(agent!.client, 'Continue', { pid: t.pid });
      expect(r.pids).toEqual(expect.arrayContaining([t.pid, ...t.childPids]));
      expect(r.stopped_by).toMatch(/^dump into checkpoint cont-full-/);
      await expectIntact(t, before.counter);
    } finally {
      fs.rmSync(filler, { force: true });
      fs.rmSync(path.join(stateDir, 'probe'), { force: true });
    }
  });
});

describe('20 concurrent requests on 5 trees', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    // All 20 come from one client (the unix socket): above the default per-client limit of 16.
    agent = await startAgent({ args: ['--max-concurrent-operations', '2', '--max-calls-per-client', '32'] });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it('each succeeds or is ABORTED naming the operation that holds its tree; one checkpoint per success; every tree runs on', async () => {
    const trees = await Promise.all(Array.from({ length: 5 }, () => startTarget({ children: 1, extraMiB: 32 })));
    const before = await Promise.all(trees.map((t) => t.query()));
    const checkpoints = path.join(agent.stateDir, 'checkpoints');

    // Watch the temporary directories: each is one dump CRIU is writing.
    let watching = true;
    let mostAtOnce = 0;
    const watcher = (async () => {
      while (watching) {
        mostAtOnce = Math.max(mostAtOnce, tmpEntries(checkpoints).length);
        await sleep(2);
      }
    })();

    const requests = trees.flatMap((t, ti) => [0, 1, 2, 3].map((k) => ({ tree: ti, pid: t.pid, id: `cc-${process.pid}-t${ti}-r${k}` })));
    const outcomes = await Promise.all(
      requests.map((r) =>
        settle(call<DumpResponse__Output>(agent.client, 'Dump', { pid: r.pid, checkpoint_id: r.id, final_state: 'FINAL_STATE_RUNNING' })),
      ),
    );
    watching = false;
    await watcher;

    const succeeded = requests.filter((_, i) => outcomes[i]?.ok);
    for (const [i, o] of outcomes.entries()) {
      const r = requests[i]!;
      if (o.ok) {
        expect(o.value.checkpoint_id).toBe(r.id);
        expect(o.value.final_state).toBe('FINAL_STATE_RUNNING');
        continue;
      }
      // Refused because another dump of the same tree held it: the message names that dump, one that succeeded.
      const e = failure(o, grpc.status.ABORTED, new RegExp(`pid ${r.pid} is busy: dump of pid ${r.pid} into (\\S+) .*is in progress`));
      const holder = new RegExp(`dump of pid ${r.pid} into (\\S+)`).exec(e.details)?.[1];
      expect(succeeded.filter((s) => s.tree === r.tree).map((s) => s.id)).toContain(holder);
    }
    for (const ti of trees.keys()) expect(succeeded.filter((s) => s.tree === ti).length).toBeGreaterThanOrEqual(1);

    // One complete checkpoint per success, nothing else.
    expect(visibleEntries(checkpoints).sort()).toEqual(succeeded.map((s) => s.id).sort());
    for (const s of succeeded) expect(fs.existsSync(path.join(checkpoints, s.id, 'checkpoint.json'))).toBe(true);
    expect(tmpEntries(checkpoints)).toEqual([]);
    // The limiter held CRIU to two dumps at a time.
    expect(mostAtOnce).toBeGreaterThanOrEqual(1);
    expect(mostAtOnce).toBeLessThanOrEqual(2);

    // Every tree runs on, none left frozen or stopped, and answers.
    for (const [i, t] of trees.entries()) await expectIntact(t, before[i]!.counter);
  });
});
