import { assertPid, isExitedTask, isZombieProcess, readProcess, readTaskChildren, sleep, type ProcessInfo } from './procfs';

/** A process tree as read from /proc at one moment (modulo the walk's own races). */
export interface TreeSnapshot {
  rootPid: number;
  /** Root first, then breadth-first order. */
  processes: ProcessInfo[];
}

/** Overall state of a tree, see {@link treeStatus}. */
export type TreeStatus = 'running' | 'stopped' | 'mixed' | 'gone';

/**
 * Walks the tree rooted at pid through /proc/PID/task/TID/children of EVERY
 * thread: a child forked by a non-main thread is listed only under that
 * thread. Null if the root does not exist (or is a non-main thread's tid).
 * Processes that vanish mid-walk are skipped, not errors.
 *
 * The kernel only guarantees a complete children list while the tree is
 * frozen or stopped; on a running tree a process forked during the walk may
 * be missed.
 * @throws RangeError for an invalid pid.
 */
export async function snapshotTree(rootPid: number): Promise<TreeSnapshot | null> {
  assertPid(rootPid);
  const root = await readProcess(rootPid);
  if (root === null) return null;
  const processes: ProcessInfo[] = [root];
  const seen = new Set<number>([rootPid]);
  // `processes` doubles as the BFS queue: index i is the next parent to expand.
  for (let i = 0; i < processes.length; i++) {
    const parent = processes[i];
    if (parent === undefined) break;
    const perTask = await Promise.all(parent.tasks.map((t) => readTaskChildren(parent.pid, t.tid)));
    const childPids = perTask.flat().filter((pid) => !seen.has(pid));
    for (const pid of childPids) seen.add(pid);
    const children = await Promise.all(childPids.map((pid) => readProcess(pid)));
    for (const child of children) {
      // ppid check: the pid might have been reaped and reused by an unrelated
      // process between reading the children list and reading the child.
      if (child !== null && child.ppid === parent.pid) processes.push(child);
    }
  }
  return { rootPid, processes };
}

/**
 * Classifies a snapshot: 'gone' when null or the root is a zombie; 'stopped'
 * when every task of every non-zombie process is stopped; 'running' when none
 * is; 'mixed' otherwise. Zombie children are ignored, and so are exited
 * threads of live processes (a main thread that called pthread_exit stays 'Z'
 * while its siblings run).
 */
export function treeStatus(s: TreeSnapshot | null): TreeStatus {
  if (s === null) return 'gone';
  const root = s.processes[0];
  if (root === undefined || isZombieProcess(root)) return 'gone';
  let stopped = 0;
  let running = 0;
  for (const p of s.processes) {
    for (const t of p.tasks) {
      if (isExitedTask(t)) continue;
      if (t.state === 'stopped') stopped++;
      else running++;
    }
  }
  if (running === 0) return 'stopped';
  if (stopped === 0) return 'running';
  return 'mixed';
}

/**
 * Polls snapshotTree until treeStatus equals `want` or timeoutMs passes;
 * returns the last snapshot and status. Needed because SIGSTOP/SIGKILL take
 * effect asynchronously after CRIU returns. Always takes at least one snapshot.
 * @param timeoutMs default 2000
 * @param pollMs default 20
 * @throws RangeError for an invalid pid.
 */
export async function waitForTreeStatus(
  rootPid: number,
  want: TreeStatus,
  timeoutMs = 2000,
  pollMs = 20,
): Promise<{ status: TreeStatus; snapshot: TreeSnapshot | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshot = await snapshotTree(rootPid);
    const status = treeStatus(snapshot);
    if (status === want || Date.now() >= deadline) return { status, snapshot };
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}
