import { assertPid } from './procfs';
import type { TreeSnapshot } from './tree';

function errnoCode(e: unknown): unknown {
  return typeof e === 'object' && e !== null && 'code' in e ? (e as { code?: unknown }).code : undefined;
}

/**
 * Sends `signal` to every process of the snapshot in snapshot order (root
 * first) and returns the pids signalled. A process that vanished meanwhile
 * (ESRCH) is skipped; other errors (EPERM) are thrown. Zombies are signalled
 * too, harmlessly: the kernel accepts signals to them.
 * @throws RangeError if the snapshot holds an invalid pid, since kill() with
 * 0 or a negative pid would hit whole process groups.
 */
export function signalTree(s: TreeSnapshot, signal: NodeJS.Signals): Promise<number[]> {
  // Inside the executor so that a throw becomes a rejection, as callers of a
  // Promise-returning function expect.
  return new Promise<number[]>((resolve) => {
    const pids = s.processes.map((p) => p.pid);
    pids.forEach(assertPid);
    const signalled: number[] = [];
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
        signalled.push(pid);
      } catch (e: unknown) {
        if (errnoCode(e) !== 'ESRCH') throw e;
      }
    }
    resolve(signalled);
  });
}

/**
 * Sends SIGCONT to every process of the snapshot (root first), returns the
 * pids signalled (ESRCH for a process that vanished meanwhile is skipped).
 */
export function continueTree(s: TreeSnapshot): Promise<number[]> {
  return signalTree(s, 'SIGCONT');
}
