import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/paths';
import { pidInUse, readProcess, snapshotTree, waitForPidFree } from '../../src/proctree';
import { sleep } from './util';

const PYTHON = '/usr/bin/python3';
const WORKLOAD_SCRIPT = path.join(packageRoot, 'bench', 'workload.py');

export type WorkloadKind =
  { kind: 'sleep' } | { kind: 'mem'; mib: number } | { kind: 'tree'; procs: number } | { kind: 'files'; count: number };

export interface WorkloadSpec {
  /** Short name used in tables and checkpoint ids. */
  name: string;
  /** One line for the README table. */
  description: string;
  spec: WorkloadKind;
}

/** A started workload tree. */
export interface Workload {
  readonly spec: WorkloadSpec;
  /** Root pid (a session leader). */
  readonly pid: number;
  /** Every pid of the tree, root first. */
  readonly pids: readonly number[];
  /** SIGKILLs the tree (group, then each pid) and waits until every pid is free. */
  kill(): Promise<void>;
}

const PID_FREE_TIMEOUT_MS = 15_000;

function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/** Waits until every pid is free (not even a zombie); throws after the timeout. */
export async function waitPidsFree(pids: readonly number[], timeoutMs = PID_FREE_TIMEOUT_MS): Promise<void> {
  const stuck: number[] = [];
  for (const pid of pids) if (!(await waitForPidFree(pid, timeoutMs, 2))) stuck.push(pid);
  if (stuck.length) throw new Error(`pids still in use ${timeoutMs} ms later: ${stuck.join(', ')}`);
}

/** SIGKILLs a tree started by the bench or restored from one of its checkpoints, and waits for its pids. */
export async function killTree(pids: readonly number[]): Promise<void> {
  const root = pids[0];
  if (root !== undefined) killQuietly(-root);
  for (const pid of pids) killQuietly(pid);
  await waitPidsFree(pids);
}

/** Starts a workload as a session leader with stdio on /dev/null; resolves once it is ready. */
export async function startWorkload(w: WorkloadSpec, scratchDir: string, filesDir: string): Promise<Workload> {
  const dir = await fsp.mkdtemp(path.join(scratchDir, `wl-${w.name}-`));
  const ready = path.join(dir, 'ready.json');
  const s = w.spec;
  const args =
    s.kind === 'sleep'
      ? ['sleep']
      : s.kind === 'mem'
        ? ['mem', '--mib', String(s.mib), '--ready', ready]
        : s.kind === 'tree'
          ? ['tree', '--procs', String(s.procs), '--ready', ready]
          : ['files', '--dir', filesDir, '--ready', ready];
  const child = spawn(PYTHON, ['-B', '-S', WORKLOAD_SCRIPT, ...args], { detached: true, stdio: 'ignore', cwd: '/' });
  const fate: { exit: string | null; error: Error | null } = { exit: null, error: null };
  child.on('exit', (code, signal) => (fate.exit = signal ?? `exit ${String(code)}`));
  child.on('error', (e) => (fate.error = e));
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${w.name}: ${fate.error?.message ?? 'no pid'}`);

  const deadline = Date.now() + 60_000;
  let pids: number[] | undefined;
  for (;;) {
    if (s.kind === 'sleep') {
      const p = await readProcess(pid);
      if (p && p.comm === 'sleep') pids = [pid];
    } else {
      try {
        pids = (JSON.parse(await fsp.readFile(ready, 'utf8')) as { pids: number[] }).pids;
      } catch {
        // not yet
      }
    }
    if (pids) break;
    const err = await fsp.readFile(`${ready}.error`, 'utf8').catch(() => null);
    if (err !== null || fate.exit !== null || fate.error !== null || Date.now() > deadline) {
      killQuietly(-pid);
      killQuietly(pid);
      await fsp.rm(dir, { recursive: true, force: true });
      throw new Error(`workload ${w.name} did not start: ${err ?? fate.error?.message ?? fate.exit ?? 'timeout'}`);
    }
    await sleep(s.kind === 'sleep' ? 2 : 10);
  }
  await fsp.rm(dir, { recursive: true, force: true });
  // The tree as CRIU will see it (the ready file's list, checked against /proc).
  const snap = await snapshotTree(pid);
  const seen = snap?.processes.map((p) => p.pid) ?? [];
  if (seen.length !== pids.length) throw new Error(`workload ${w.name}: /proc shows ${seen.length} processes, expected ${pids.length}`);
  const all = pids;
  return {
    spec: w,
    pid,
    pids: all,
    kill: () => killTree(all),
  };
}

/** Creates `count` small distinct files for the open-files workload (once per bench run). */
export async function makeFilesFixture(dir: string, count: number): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    await fsp.writeFile(path.join(dir, `f${String(i).padStart(5, '0')}`), `criu-agent bench file ${i}\n`);
  }
}

/** True while any pid of the list is in use. */
export async function anyInUse(pids: readonly number[]): Promise<boolean> {
  for (const pid of pids) if (await pidInUse(pid)) return true;
  return false;
}
