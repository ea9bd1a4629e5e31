import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

import {
  ProcStatParseError,
  continueTree,
  isKernelThread,
  isZombieProcess,
  mapTaskState,
  parseStat,
  pidInUse,
  readProcess,
  readTaskChildren,
  sessionInfo,
  signalTree,
  snapshotTree,
  treeStatus,
  waitForPidFree,
  waitForTreeStatus,
  type ProcessInfo,
  type TreeSnapshot,
} from '../../src/proctree';

const PYTHON = '/usr/bin/python3';

/** Roots of the trees started by a test; each is a process-group leader. */
const started = new Set<number>();

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (e: unknown) {
    if ((e as { code?: unknown }).code !== 'ESRCH') throw e;
  }
}

/** Starts a process as its own session and group leader, so the group can be killed wholesale. */
function start(cmd: string, args: string[]): number {
  const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`spawn ${cmd} failed`);
  started.add(pid);
  return pid;
}

function startPython(code: string): number {
  return start(PYTHON, ['-B', '-c', code]);
}

async function until<T>(what: string, probe: () => Promise<T | null | false>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== false) return v;
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until the tree rooted at pid has `count` processes, each with its expected task count. */
function untilTree(pid: number, count: number, minTasksOfRoot = 1): Promise<TreeSnapshot> {
  return until(`tree of ${pid} with ${count} processes`, async () => {
    const s = await snapshotTree(pid);
    return s !== null && s.processes.length === count && (s.processes[0]?.tasks.length ?? 0) >= minTasksOfRoot ? s : null;
  });
}

async function unusedPid(): Promise<number> {
  const max = Number((await readFile('/proc/sys/kernel/pid_max', 'utf8')).trim());
  for (let pid = max - 1; pid > max - 1000; pid--) {
    if (!(await pidInUse(pid))) return pid;
  }
  throw new Error('no free pid found');
}

function byPid(s: TreeSnapshot, pid: number): ProcessInfo {
  const p = s.processes.find((x) => x.pid === pid);
  if (p === undefined) throw new Error(`pid ${pid} not in snapshot`);
  return p;
}

afterEach(async () => {
  const roots = [...started];
  started.clear();
  for (const pid of roots) {
    killQuietly(-pid, 'SIGKILL');
    killQuietly(pid, 'SIGKILL');
  }
  // Node is the parent of every root and reaps it; orphaned descendants are
  // left to PID 1.
  for (const pid of roots) await waitForPidFree(pid, 5000);
});

describe('parseStat', () => {
  it('parses a plain line', () => {
    const st = parseStat('1234 (sleep) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5 1 2 3\n');
    expect(st).toEqual({
      pid: 1234,
      comm: 'sleep',
      state: 'S',
      ppid: 1,
      pgrp: 1234,
      session: 1234,
      flags: 4194560,
    });
  });

  it('takes comm up to the LAST parenthesis, spaces and parentheses included', () => {
    const st = parseStat('42 (a) b (c) T) t 7 8 9 0 -1 2097152 0 0\n');
    expect(st.comm).toBe('a) b (c) T');
    expect(st.state).toBe('t');
    expect(st.ppid).toBe(7);
    expect(st.pgrp).toBe(8);
    expect(st.session).toBe(9);
    expect(st.flags).toBe(0x00200000);
  });

  it('handles an empty comm and a comm that is only ")"', () => {
    expect(parseStat('5 () R 1 5 5 0 -1 0').comm).toBe('');
    expect(parseStat('5 ()) Z 1 5 5 0 -1 0').comm).toBe(')');
  });

  it('rejects malformed lines', () => {
    expect(() => parseStat('')).toThrow(ProcStatParseError);
    expect(() => parseStat('12 sleep S 1 2 3')).toThrow(ProcStatParseError);
    expect(() => parseStat('12 (sleep)')).toThrow(ProcStatParseError);
    expect(() => parseStat('x (sleep) S 1 2 3 0 -1 0')).toThrow(ProcStatParseError);
  });

  it('maps state letters', () => {
    for (const c of ['R', 'S', 'D', 'I', 'W', 'P', 'K']) expect(mapTaskState(c)).toBe('running');
    for (const c of ['T', 't']) expect(mapTaskState(c)).toBe('stopped');
    for (const c of ['Z', 'X', 'x']) expect(mapTaskState(c)).toBe('zombie');
  });
});

describe('treeStatus on literal snapshots', () => {
  const proc = (pid: number, ...states: string[]): ProcessInfo => ({
    pid,
    ppid: 1,
    comm: 'x',
    tasks: states.map((s, i) => ({ tid: pid + i, rawState: s, state: mapTaskState(s) })),
  });
  const snap = (...processes: ProcessInfo[]): TreeSnapshot => ({
    rootPid: processes[0]?.pid ?? 0,
    processes,
  });

  it('classifies', () => {
    expect(treeStatus(null)).toBe('gone');
    expect(treeStatus(snap())).toBe('gone');
    expect(treeStatus(snap(proc(10, 'Z')))).toBe('gone');
    expect(treeStatus(snap(proc(10, 'S', 'R'), proc(20, 'D')))).toBe('running');
    expect(treeStatus(snap(proc(10, 'T', 't'), proc(20, 'T')))).toBe('stopped');
    expect(treeStatus(snap(proc(10, 'T', 'S'), proc(20, 'T')))).toBe('mixed');
    expect(treeStatus(snap(proc(10, 'T'), proc(20, 'S')))).toBe('mixed');
  });

  it('ignores zombie children and exited threads of live processes', () => {
    expect(treeStatus(snap(proc(10, 'T'), proc(20, 'Z')))).toBe('stopped');
    expect(treeStatus(snap(proc(10, 'S'), proc(20, 'Z')))).toBe('running');
    // Main thread gone through pthread_exit, the other thread stopped.
    expect(treeStatus(snap(proc(10, 'Z', 'T')))).toBe('stopped');
    expect(isZombieProcess(proc(10, 'Z', 'T'))).toBe(false);
    expect(isZombieProcess(proc(10, 'Z'))).toBe(true);
  });
});

describe('live processes', () => {
  it('reads a single process', async () => {
    const pid = start('/bin/sleep', ['300']);
    const p = await until('sleep to exec', async () => {
      const r = await readProcess(pid);
      return r?.comm === 'sleep' ? r : null;
    });
    expect(p.pid).toBe(pid);
    expect(p.ppid).toBe(process.pid);
    expect(p.tasks).toHaveLength(1);
    expect(p.tasks[0]).toMatchObject({ tid: pid, state: 'running' });
    expect(p.tasks[0]?.rawState).toMatch(/^[RSD]$/);
    expect(await sessionInfo(pid)).toEqual({ sid: pid, pgid: pid });
    expect(await isKernelThread(pid)).toBe(false);
  });

  it('reads a comm containing ")" and spaces from the real /proc', async () => {
    const pid = startPython("import time\nopen('/proc/self/comm', 'w').write('x) y (z) ')\ntime.sleep(300)\n");
    const p = await until('comm change', async () => {
      const r = await readProcess(pid);
      return r?.comm === 'x) y (z) ' ? r : null;
    });
    expect(p.tasks[0]?.state).toBe('running');
    expect(p.ppid).toBe(process.pid);
  });

  it('walks a shell tree breadth-first, root first', async () => {
    const pid = start('/bin/sh', ['-c', 'sleep 300 & /bin/sh -c "sleep 300 & sleep 300 & wait" & wait']);
    const s = await untilTree(pid, 5);
    expect(s.rootPid).toBe(pid);
    expect(s.processes[0]?.pid).toBe(pid);
    const depth = new Map<number, number>([[pid, 0]]);
    for (const p of s.processes.slice(1)) {
      const d = depth.get(p.ppid);
      expect(d).toBeDefined(); // parent listed before child
      depth.set(p.pid, (d ?? 0) + 1);
    }
    const depths = s.processes.map((p) => depth.get(p.pid) ?? -1);
    expect(depths).toEqual([...depths].sort((a, b) => a - b));
    expect(depths.filter((d) => d === 1)).toHaveLength(2);
    expect(depths.filter((d) => d === 2)).toHaveLength(2);
    expect(treeStatus(s)).toBe('running');
    expect(new Set(s.processes.map((p) => p.pid)).size).toBe(5);
  });

  it('lists threads and finds a child forked by a non-main thread', async () => {
    const pid = startPython(
      [
        'import subprocess, threading, time',
        'def forker():',
        "    subprocess.Popen(['/bin/sleep', '300'])",
        '    time.sleep(300)',
        'threading.Thread(target=forker, daemon=True).start()',
        'threading.Thread(target=time.sleep, args=(300,), daemon=True).start()',
        'time.sleep(300)',
      ].join('\n'),
    );
    const s = await untilTree(pid, 2, 3);
    const root = byPid(s, pid);
    expect(root.tasks).toHaveLength(3);
    expect(root.tasks[0]?.tid).toBe(pid);
    const child = s.processes[1];
    expect(child?.ppid).toBe(pid);
    // Only the forking thread lists it: a walk over the main thread alone would miss it.
    expect(await readTaskChildren(pid, pid)).toEqual([]);
    const listing = await Promise.all(root.tasks.map((t) => readTaskChildren(pid, t.tid)));
    expect(listing.flat()).toEqual([child?.pid]);

    // A non-main thread's tid is not a process, yet it holds the number.
    const tid = root.tasks[1]?.tid ?? 0;
    expect(await readProcess(tid)).toBeNull();
    expect(await snapshotTree(tid)).toBeNull();
    expect(await pidInUse(tid)).toBe(true);

    // Stopping the process stops every thread.
    process.kill(pid, 'SIGSTOP');
    // The group stop reaches the threads one after another: wait for all of
    // them (the tree is 'mixed' as soon as the first one stops).
    let partly = await snapshotTree(pid);
    for (let i = 0; i < 150 && !byPid(partly as TreeSnapshot, pid).tasks.every((t) => t.state === 'stopped'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      partly = await snapshotTree(pid);
    }
    expect(treeStatus(partly)).toBe('mixed');
    expect(byPid(partly as TreeSnapshot, pid).tasks.map((t) => t.rawState)).toEqual(['T', 'T', 'T']);
  });

  it('tracks SIGSTOP/SIGCONT of a tree: stopped, mixed, running', async () => {
    const pid = start('/bin/sh', ['-c', 'sleep 300 & sleep 300 & wait']);
    const s = await untilTree(pid, 3);
    expect(treeStatus(s)).toBe('running');

    const child = s.processes[1]?.pid ?? 0;
    process.kill(child, 'SIGSTOP');
    expect((await waitForTreeStatus(pid, 'mixed')).status).toBe('mixed');

    expect(await signalTree(s, 'SIGSTOP')).toEqual(s.processes.map((p) => p.pid));
    const stopped = await waitForTreeStatus(pid, 'stopped');
    expect(stopped.status).toBe('stopped');
    expect(stopped.snapshot?.processes.map((p) => p.pid)).toEqual(s.processes.map((p) => p.pid));

    expect(await continueTree(stopped.snapshot as TreeSnapshot)).toEqual(s.processes.map((p) => p.pid));
    expect((await waitForTreeStatus(pid, 'running')).status).toBe('running');
  });

  it('times out waiting for a status that does not come', async () => {
    const pid = start('/bin/sleep', ['300']);
    const t0 = Date.now();
    const r = await waitForTreeStatus(pid, 'stopped', 150);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(r.status).toBe('running');
    expect(r.snapshot?.rootPid).toBe(pid);
  });

  it('handles zombies: reported, ignored as children, gone as root', async () => {
    const pid = startPython('import os, time\nif os.fork() == 0:\n    os._exit(0)\ntime.sleep(300)\n');
    const s = await until('zombie child', async () => {
      const snap = await snapshotTree(pid);
      const c = snap?.processes[1];
      return c !== undefined && c.tasks[0]?.state === 'zombie' ? snap : null;
    });
    const zombie = s.processes[1] as ProcessInfo;
    expect(zombie.ppid).toBe(pid);
    expect(zombie.tasks).toEqual([{ tid: zombie.pid, state: 'zombie', rawState: 'Z' }]);
    expect(isZombieProcess(zombie)).toBe(true);
    expect(await readProcess(zombie.pid)).toEqual(zombie);
    expect(treeStatus(s)).toBe('running');

    process.kill(pid, 'SIGSTOP');
    expect((await waitForTreeStatus(pid, 'stopped')).status).toBe('stopped');
    // SIGCONT to a zombie is accepted by the kernel, so it counts as signalled.
    expect(await continueTree(s)).toEqual([pid, zombie.pid]);
    expect((await waitForTreeStatus(pid, 'running')).status).toBe('running');

    // A zombie root is 'gone' even though its pid is still taken.
    const zs = await snapshotTree(zombie.pid);
    expect(zs?.processes).toHaveLength(1);
    expect(treeStatus(zs)).toBe('gone');
    expect(await pidInUse(zombie.pid)).toBe(true);
    expect(await waitForPidFree(zombie.pid, 100)).toBe(false);
    expect(await isKernelThread(zombie.pid)).toBe(false);
    expect(await sessionInfo(zombie.pid)).toEqual({ sid: pid, pgid: pid });

    // Killing the parent lets PID 1 reap the zombie (slowly).
    process.kill(pid, 'SIGKILL');
    expect((await waitForTreeStatus(pid, 'gone')).status).toBe('gone');
    expect(await waitForPidFree(zombie.pid, 10000)).toBe(true);
  }, 20000);

  it('reports a killed tree as gone and frees its pid', async () => {
    const pid = start('/bin/sleep', ['300']);
    expect(await pidInUse(pid)).toBe(true);
    expect(await waitForPidFree(pid, 50)).toBe(false);
    process.kill(pid, 'SIGKILL');
    expect((await waitForTreeStatus(pid, 'gone')).status).toBe('gone');
    expect(await waitForPidFree(pid, 5000)).toBe(true);
    expect(await pidInUse(pid)).toBe(false);
    expect(await snapshotTree(pid)).toBeNull();
    expect(await readProcess(pid)).toBeNull();
    expect(await sessionInfo(pid)).toBeNull();
    expect(await isKernelThread(pid)).toBe(false);
    expect(await continueTree({ rootPid: pid, processes: [{ pid, ppid: 1, comm: 'x', tasks: [] }] })).toEqual([]);
  });

  it('returns null / false for a pid nobody holds', async () => {
    const pid = await unusedPid();
    expect(await readProcess(pid)).toBeNull();
    expect(await snapshotTree(pid)).toBeNull();
    expect(await waitForTreeStatus(pid, 'running', 60)).toEqual({ status: 'gone', snapshot: null });
    expect(await pidInUse(pid)).toBe(false);
    expect(await waitForPidFree(pid, 0)).toBe(true);
  });

  it('survives processes vanishing mid-walk', async () => {
    const pid = start('/bin/sh', ['-c', 'while :; do /bin/true; done']);
    await until('sh to start', () => readProcess(pid));
    for (let i = 0; i < 200; i++) {
      const s = await snapshotTree(pid);
      expect(s?.processes[0]?.pid).toBe(pid);
      for (const p of s?.processes.slice(1) ?? []) expect(p.ppid).toBe(pid);
    }
  });

  it('tells kernel threads apart', async () => {
    expect(await isKernelThread(2)).toBe(true); // kthreadd
    expect(await isKernelThread(process.pid)).toBe(false);
    expect(await isKernelThread(1)).toBe(false);
  });

  it('gives session info of a non-leader', async () => {
    const own = await sessionInfo(process.pid);
    expect(own).not.toBeNull();
    const child = spawn('/bin/sleep', ['300'], { stdio: 'ignore' });
    try {
      const pid = child.pid ?? 0;
      const info = await sessionInfo(pid);
      expect(info).toEqual(own);
      expect(info?.sid).not.toBe(pid);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('rejects invalid pids', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await expect(readProcess(bad)).rejects.toThrow(RangeError);
      await expect(snapshotTree(bad)).rejects.toThrow(RangeError);
      await expect(pidInUse(bad)).rejects.toThrow(RangeError);
    }
    await expect(continueTree({ rootPid: 0, processes: [{ pid: 0, ppid: 0, comm: '', tasks: [] }] })).rejects.toThrow(RangeError);
  });
});
