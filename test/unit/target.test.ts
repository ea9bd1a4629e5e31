import { access, readdir, readFile, readlink } from 'node:fs/promises';

import { continueTree, pidInUse, sessionInfo, signalTree, snapshotTree, waitForTreeStatus, type TreeSnapshot } from '../../src/proctree';
import { killAllTargets, startTarget, type Target } from '../helpers/target';

const TICK_MS = 20;

afterAll(async () => {
  await killAllTargets();
});

/** Per task: /proc/PID/task/TID/schedstat (cpu ns, wait ns, timeslices); moves whenever the task runs. */
async function schedstats(s: TreeSnapshot): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const p of s.processes) {
    for (const t of p.tasks) {
      out.set(t.tid, (await readFile(`/proc/${p.pid}/task/${t.tid}/schedstat`, 'utf8')).trim());
    }
  }
  return out;
}

/** Targets of every fd of pid, as readlink shows them. */
async function fdTargets(pid: number): Promise<string[]> {
  const fds = await readdir(`/proc/${pid}/fd`);
  return Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('test target', () => {
  let target: Target;

  beforeAll(async () => {
    target = await startTarget();
  });

  it('starts a session leader with the requested children and threads', async () => {
    expect(target.childPids).toHaveLength(2);
    expect(target.allPids).toEqual([target.pid, ...target.childPids]);
    expect(await sessionInfo(target.pid)).toEqual({ sid: target.pid, pgid: target.pid });

    const s = await snapshotTree(target.pid);
    expect(s?.processes.map((p) => p.pid)).toEqual(target.allPids);
    // Root: main, counter and server threads; children: main and one extra.
    expect(s?.processes.map((p) => p.tasks.length)).toEqual([3, 2, 2]);
    for (const c of target.childPids) expect(await sessionInfo(c)).toEqual({ sid: target.pid, pgid: target.pid });
  });

  it('holds only descriptors CRIU can dump', async () => {
    const root = await fdTargets(target.pid);
    expect(root.filter((t) => t === '/dev/null')).toHaveLength(3);
    expect(root).toContain('/etc/hostname');
    expect(root.some((t) => t.endsWith('/test/fixtures/target.py'))).toBe(true);
    const others = root.filter((t) => !t.startsWith('/'));
    expect(others).toHaveLength(1);
    expect(others[0]).toMatch(/^socket:\[\d+\]$/);
    for (const c of target.childPids) expect(await fdTargets(c)).toEqual(['/dev/null', '/dev/null', '/dev/null']);
  });

  it('answers queries with a moving counter and a stable memory hash', async () => {
    const a = await target.query();
    await sleep(10 * TICK_MS);
    const b = await target.query();
    expect(a.pid).toBe(target.pid);
    expect(a.children).toEqual(target.childPids);
    expect(b.children).toEqual(target.childPids);
    expect(a.threads).toBeGreaterThanOrEqual(2);
    expect(b.threads).toBe(3);
    expect(b.counter).toBeGreaterThan(a.counter);
    for (const q of [a, b]) {
      expect(q.mem_sha256_at_start).toMatch(/^[0-9a-f]{64}$/);
      expect(q.mem_sha256_now).toBe(q.mem_sha256_at_start);
    }
    expect(b.mem_sha256_at_start).toBe(a.mem_sha256_at_start);
  });

  it('freezes completely under SIGSTOP and resumes on SIGCONT', async () => {
    const before = await target.query();
    const t0 = Date.now();
    const s = await snapshotTree(target.pid);
    if (s === null) throw new Error('target vanished');
    expect(await signalTree(s, 'SIGSTOP')).toEqual(target.allPids);

    const stopped = await waitForTreeStatus(target.pid, 'stopped');
    expect(stopped.status).toBe('stopped');
    const stoppedSnap = stopped.snapshot as TreeSnapshot;
    expect(stoppedSnap.processes.flatMap((p) => p.tasks.map((t) => t.rawState))).toEqual(Array(7).fill('T'));

    // No task gets CPU while stopped, the counter thread included. (A query
    // would just time out, and leave a connection in the listen queue.)
    const ss1 = await schedstats(stoppedSnap);
    const stoppedFrom = Date.now();
    await sleep(500);
    const ss2 = await schedstats(stoppedSnap);
    expect(ss2).toEqual(ss1);
    const stoppedFor = Date.now() - stoppedFrom;

    expect(await continueTree(stoppedSnap)).toEqual(target.allPids);
    expect((await waitForTreeStatus(target.pid, 'running')).status).toBe('running');
    const after = await target.query();
    const elapsed = Date.now() - t0;
    expect(after.counter).toBeGreaterThan(before.counter);
    // The counter only advances while running (each sleep(20ms) yields at most
    // one increment, so it never runs ahead of wall time); +2 covers the tick
    // in flight when stopped and rounding.
    expect(after.counter - before.counter).toBeLessThanOrEqual(Math.floor((elapsed - stoppedFor) / TICK_MS) + 2);
    expect(after.mem_sha256_now).toBe(before.mem_sha256_at_start);
  });

  it('kills the whole tree, leaving no pid behind', async () => {
    const pids = [...target.allPids];
    await target.kill();
    for (const pid of pids) expect(await pidInUse(pid)).toBe(false);
    await expect(access(target.dir)).rejects.toThrow();
    await expect(target.query(500)).rejects.toThrow(/connection refused/);
    await target.kill(); // idempotent
  }, 20000);
});

describe('test target variants', () => {
  it('runs without children and is killed by killAllTargets', async () => {
    const t = await startTarget({ children: 0 });
    expect(t.childPids).toEqual([]);
    const q = await t.query();
    expect(q.children).toEqual([]);
    expect(q.threads).toBe(3);
    expect((await snapshotTree(t.pid))?.processes).toHaveLength(1);
    await killAllTargets();
    expect(await pidInUse(t.pid)).toBe(false);
  });

  it('kills children whose parent died', async () => {
    const t = await startTarget({ children: 3 });
    expect(t.childPids).toHaveLength(3);
    // Only the root: the children must notice and exit by themselves.
    process.kill(t.pid, 'SIGKILL');
    const gone = await waitForTreeStatus(t.pid, 'gone', 5000);
    expect(gone.status).toBe('gone');
    for (const c of t.childPids) {
      const deadline = Date.now() + 10000;
      while ((await pidInUse(c)) && Date.now() < deadline) await sleep(50);
      expect(await pidInUse(c)).toBe(false);
    }
    await t.kill();
  }, 30000);

  it('rejects a bad children count', async () => {
    await expect(startTarget({ children: -1 })).rejects.toThrow(RangeError);
  });

  it('times out a query to a stopped target with a clear message', async () => {
    const t = await startTarget({ children: 0 });
    process.kill(t.pid, 'SIGSTOP');
    await waitForTreeStatus(t.pid, 'stopped');
    await expect(t.query(200)).rejects.toThrow(/no answer within 200 ms/);
    await t.kill();
  }, 20000);
});
