import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { CRIU_OWNER_ENV } from '../criu/transport';
import { findMarkedProcesses, killProcessesSince, readStartTime, readStat, type MarkedProcess } from '../proctree';
import { RestoreJournal } from '../store';
import type { Logger } from '../log';

/** How long a start waits for CRIU processes of an earlier run to roll back and exit. */
const LEFTOVER_WAIT_MS = 60_000;

/**
 * Cleans up after an earlier run of the agent on the same state directory
 * (it was killed, or crashed), before the new one serves (the state
 * directory lock guarantees no other live agent owns it):
 *
 * - CRIU processes it started (marked with CRIU_OWNER_ENV = the state
 *   directory, so never another agent's) that still run: each rolls back by
 *   itself at its next notification, as its socket is closed; they are
 *   waited for, never killed while they may hold a tree. Their helpers
 *   (a CRIU process whose group leader is gone, e.g. kerndat probes left
 *   stopped) are killed.
 * - Restores it was in the middle of (RestoreJournal): every task created
 *   for them since they began is killed, so no half-restored tree (nor one
 *   whose caller never learnt it was restored) runs on.
 *
 * Returns the working directories of CRIU processes still running after
 * the wait, which the start-up sweep must leave alone.
 */
export async function recoverEarlierRun(stateDir: string, log: Logger): Promise<string[]> {
  const owner = path.resolve(stateDir);
  const leftovers = await findMarkedProcesses('criu', CRIU_OWNER_ENV, owner);
  const leaders = leftovers.filter((p) => p.pid === p.pgid);
  if (leftovers.length > 0) {
    log.warn({ pids: leftovers.map((p) => p.pid) }, 'CRIU processes of an earlier run of this agent are still there: waiting for them to roll back');
  }
  const deadline = Date.now() + LEFTOVER_WAIT_MS;
  let alive = leaders;
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = await stillAlive(alive);
  }
  const busy: string[] = [];
  for (const p of alive) {
    log.error({ pid: p.pid }, 'a CRIU process of an earlier run has not finished: it is left alone (it may hold a tree), and so is its directory');
    try {
      busy.push(await fsp.readlink(`/proc/${p.pid}/cwd`));
    } catch {
      // gone meanwhile
    }
  }
  // Helpers whose CRIU is gone (stopped kerndat probes, CRIU's forks for a restore).
  const aliveGroups = new Set(alive.map((p) => p.pgid));
  for (const p of await stillAlive(leftovers)) {
    if (aliveGroups.has(p.pgid)) continue;
    killQuietly(p.pid);
    log.warn({ pid: p.pid, state: p.state }, 'killed a CRIU helper an earlier run left behind');
  }

  const journal = new RestoreJournal(owner);
  for (const { file, entry } of await journal.all()) {
    if (entry) {
      const killed = await killProcessesSince(entry.pids, entry.sinceTicks);
      if (killed.length > 0) {
        log.warn({ checkpointId: entry.checkpointId, pids: killed }, 'killed the tasks of a restore an earlier run was in the middle of');
      }
    }
    await fsp.rm(file, { force: true });
  }
  return busy;
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
