import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { listPageServers } from '../criu/client';
import { CRIU_OWNER_ENV } from '../criu/transport';
import { findMarkedProcesses, killProcessesSince, readStartTime, readStat, type MarkedProcess } from '../proctree';
import { RestoreJournal } from '../store';
import type { Logger } from '../log';

/** How long a start waits for CRIU processes of an earlier run to roll back and exit. */
const LEFTOVER_WAIT_MS = 60_000;

/** What start-up learnt of an earlier run, and the clean-up still going on in the background. */
export interface Recovery {
  /**
   * Working directories of the earlier run's CRIU processes that still run:
   * the store's start-up sweep must leave them alone.
   */
  busy: string[];
  /**
   * Settles once those CRIU processes ended (or the wait gave up on them) and
   * the restores they were in the middle of are cleaned up, with the
   * directories of those that ended (temporary ones are the store's to
   * sweep). Operations that run CRIU or signal trees wait for it. Never rejects.
   */
  done: Promise<string[]>;
}

/**
 * Cleans up after an earlier run of the agent on the same state directory
 * (it was killed, or crashed); the state directory lock guarantees no other
 * live agent owns it. The agent serves meanwhile: only the waiting is in
 * the background, so listing, reading and health calls answer at once.
 *
 * - CRIU processes it started (marked with CRIU_OWNER_ENV = the state
 *   directory, so never another agent's) that still run: each rolls back by
 *   itself at its next notification, as its socket is closed; they are
 *   waited for, never killed while they may hold a tree. Their helpers
 *   (a CRIU process whose group leader is gone, e.g. kerndat probes left
 *   stopped) are killed. Once one has ended, `sweep` gets its directory.
 * - CRIU page servers it started for ReceiveMigration: one whose source
 *   never connected waits for it for good. A page server holds no tree, so
 *   they are killed at once (see earlierPageServers).
 * - Restores it was in the middle of (RestoreJournal): once no CRIU of the
 *   earlier run can still create tasks, every task created for them since
 *   they began is killed, so no half-restored tree (nor one whose caller
 *   never learnt it was restored) runs on.
 */
export async function recoverEarlierRun(stateDir: string, log: Logger): Promise<Recovery> {
  const owner = path.resolve(stateDir);
  // Before the store's sweep: their directories are temporary ones it removes.
  for (const pid of await earlierPageServers(owner)) {
    killQuietly(pid);
    log.warn({ pid }, 'killed a CRIU page server an earlier run started for a migration that never reached it');
  }
  const leftovers = await findMarkedProcesses('criu', CRIU_OWNER_ENV, owner);
  const leaders = leftovers.filter((p) => p.pid === p.pgid);
  const cwds = new Map<number, string>();
  for (const p of leaders) {
    try {
      cwds.set(p.pid, await fsp.readlink(`/proc/${p.pid}/cwd`));
    } catch {
      // gone meanwhile
    }
  }
  // Read now: the journal gets this run's own entries once it serves.
  const interrupted = await new RestoreJournal(owner).all();
  if (leftovers.length > 0) {
    log.warn({ pids: leftovers.map((p) => p.pid) }, 'CRIU processes of an earlier run of this agent are still there: waiting in the background for them to roll back');
  }
  const done = (async (): Promise<string[]> => {
    const deadline = Date.now() + LEFTOVER_WAIT_MS;
    let alive = leaders;
    while (alive.length > 0 && Date.now() < deadline) {
      await sleep(50);
      alive = await stillAlive(alive);
    }
    for (const p of alive) {
      log.error({ pid: p.pid }, 'a CRIU process of an earlier run has not finished: it is left alone (it may hold a tree), and so is its directory');
    }
    // Helpers whose CRIU is gone (stopped kerndat probes, CRIU's forks for a restore).
    const aliveGroups = new Set(alive.map((p) => p.pgid));
    for (const p of await stillAlive(leftovers)) {
      if (aliveGroups.has(p.pgid)) continue;
      killQuietly(p.pid);
      log.warn({ pid: p.pid, state: p.state }, 'killed a CRIU helper an earlier run left behind');
    }
    const stillBusy = new Set(alive.map((p) => cwds.get(p.pid)));

    for (const { file, entry } of interrupted) {
      if (entry) {
        const killed = await killProcessesSince(entry.pids, entry.sinceTicks);
        if (killed.length > 0) {
          log.warn({ checkpointId: entry.checkpointId, pids: killed }, 'killed the tasks of a restore an earlier run was in the middle of');
        }
      }
      await fsp.rm(file, { force: true });
    }
    return leaders.map((p) => cwds.get(p.pid)).filter((d): d is string => d !== undefined && !stillBusy.has(d));
  })().catch((err: unknown) => {
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'cleaning up after an earlier run failed');
    return [];
  });
  return { busy: [...cwds.values()], done };
}

/**
 * Page servers whose images directory is in this state directory. Their
 * title hides the owner mark from /proc/PID/environ, so they are known by
 * their working directory (CRIU's page server works in its images
 * directory). Seen in the soak: the agent killed between starting one and
 * the source's first page left it waiting in accept() after the restart.
 */
async function earlierPageServers(owner: string): Promise<number[]> {
  const found: number[] = [];
  for (const { pid } of await listPageServers()) {
    const cwd = await fsp.readlink(`/proc/${pid}/cwd`).catch(() => '');
    if (cwd.startsWith(`${owner}/`)) found.push(pid);
  }
  return found;
}

/** Those of `ps` that still run (the same process: same start time; a zombie has ended). */
async function stillAlive(ps: MarkedProcess[]): Promise<MarkedProcess[]> {
  const out: MarkedProcess[] = [];
  for (const p of ps) {
    const st = await readStat(p.pid).catch(() => null);
    if (st && st.state !== 'Z' && (await readStartTime(p.pid)) === p.startTime) out.push(p);
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}
