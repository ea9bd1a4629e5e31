/**
 * Faults on a schedule drawn from the seed: CRIU workers of the soak's agent
 * SIGKILLed mid-operation, the agent SIGKILLed (and restarted at once, as
 * systemd would), the state directory's file system filled and freed, a
 * target killed mid-dump.
 *
 * Only the soak's own processes are touched: CRIU workers are found as
 * children of the agent's pid, and every kill goes through signalOwned.
 */
import * as grpc from '@grpc/grpc-js';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readTaskChildren } from '../../src/proctree';
import { fateOf, sleep, type Soak } from './context';
import { CRIU_DEADLINE_MS, dumpTree, restorable, restoreEntry } from './ops';
import { openPaths, own, signalOwned, stillSame, type OwnedPid } from './procs';
import type { Rng } from './rng';
import type { SoakTarget } from './targets';

export type FaultKind = 'criu-kill' | 'agent-kill' | 'fs-fill' | 'target-kill';

export interface ScheduledFault {
  atSec: number;
  kind: FaultKind;
}

/** Mean seconds between faults of each kind, and when the first comes (as a fraction of the run). */
const CADENCE: Record<FaultKind, { everySec: number; firstAt: number }> = {
  'criu-kill': { everySec: 35, firstAt: 0.12 },
  'target-kill': { everySec: 45, firstAt: 0.2 },
  'agent-kill': { everySec: 240, firstAt: 0.3 },
  'fs-fill': { everySec: 100, firstAt: 0.5 },
};

/** The run's faults, in time order: a function of the seed and the length only. */
export function faultSchedule(rng: Rng, durationSec: number): ScheduledFault[] {
  const out: ScheduledFault[] = [];
  for (const kind of Object.keys(CADENCE) as FaultKind[]) {
    const { everySec, firstAt } = CADENCE[kind];
    for (let at = durationSec * firstAt * (0.8 + 0.4 * rng.next()); at < durationSec * 0.92; at += everySec * (0.7 + 0.6 * rng.next())) {
      out.push({ atSec: Math.round(at * 10) / 10, kind });
    }
  }
  return out.sort((a, b) => a.atSec - b.atSec);
}

/** The agent's direct children named criu (its swrk workers; restored tasks are CRIU's children, not the agent's). */
export async function criuWorkers(agentPid: number): Promise<number[]> {
  const out: number[] = [];
  let tids: string[] = [];
  try {
    tids = await fsp.readdir(`/proc/${agentPid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    for (const child of await readTaskChildren(agentPid, Number(tid))) {
      try {
        const comm = (await fsp.readFile(`/proc/${child}/comm`, 'utf8')).trim();
        if (comm === 'criu') out.push(child);
      } catch {
        // gone
      }
    }
  }
  return out;
}

/** Waits for a CRIU worker of the agent with a file open under dirPrefix; undefined after timeoutMs. */
async function waitForWorker(agentPid: number, dirPrefix: string, timeoutMs: number, done: () => boolean): Promise<OwnedPid | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !done()) {
    for (const pid of await criuWorkers(agentPid)) {
      if ((await openPaths(pid)).some((p) => p.startsWith(dirPrefix))) {
        const o = await own(pid);
        if (o) return o;
      }
    }
    await sleep(5);
  }
  return undefined;
}

async function bigTarget(soak: Soak, rng: Rng): Promise<SoakTarget | undefined> {
  const t = soak.pool.lease(rng, (x) => x.expected === 'running' && x.info.shape === 'big');
  if (t) return t;
  try {
    return await soak.pool.start('big');
  } catch (err) {
    soak.surprise('start big', (err as Error).message.slice(0, 300));
    return undefined;
  }
}

export class FaultRunner {
  busy = false;
  restarts = 0;
  private faultSeq = 0;

  constructor(
    private readonly soak: Soak,
    private readonly rng: Rng,
    private readonly tmpfsDir: string,
  ) {}

  async run(schedule: readonly ScheduledFault[], endAtSec: number): Promise<void> {
    for (const f of schedule) {
      while (this.soak.elapsed() < f.atSec && !this.soak.stopping) await sleep(100);
      // Re-checked with no await before `busy`: the checker pauses between turns of the event loop.
      while (this.soak.paused && !this.soak.stopping) await this.soak.holdWhilePaused();
      if (this.soak.stopping || this.soak.elapsed() > endAtSec) return;
      this.busy = true;
      this.soak.faultsActive++;
      try {
        await this.inject(f.kind);
      } catch (err) {
        this.soak.surprise(`fault ${f.kind} failed`, (err as Error).stack?.slice(0, 500) ?? String(err));
      } finally {
        this.soak.faultsActive--;
        this.busy = false;
      }
    }
  }

  private async inject(kind: FaultKind): Promise<void> {
    switch (kind) {
      case 'criu-kill':
        return this.rng.chance(0.6) ? this.killCriuMidDump() : this.killCriuMidRestore();
      case 'agent-kill':
        return this.killAgent();
      case 'fs-fill':
        return this.fillFs();
      case 'target-kill':
        return this.killTargetMidDump();
    }
  }

  private id(what: string): string {
    return `soak-fault-${what}-${++this.faultSeq}-${this.rng.tag()}`;
  }

  /** SIGKILL of the CRIU worker dumping a tree: the call fails, the tree runs on, nothing is listed. */
  private async killCriuMidDump(): Promise<void> {
    const t = await bigTarget(this.soak, this.rng);
    if (!t) return;
    const id = this.id('criu-dump');
    const final = this.rng.pick(['FINAL_STATE_RUNNING', 'FINAL_STATE_STOPPED', 'FINAL_STATE_DEAD'] as const) ?? 'FINAL_STATE_DEAD';
    let finished = false;
    const call = dumpTree(this.soak, t, id, final, 'fault.criu-kill.Dump', {
      expect: [grpc.status.INTERNAL, grpc.status.OK],
      criuKilled: true,
    }).finally(
      () => (finished = true),
    );
    const worker = await waitForWorker(
      this.soak.agent.pid,
      path.join(this.soak.stateDir, 'checkpoints', `.tmp-${id}-`),
      30_000,
      () => finished,
    );
    if (worker) {
      await sleep(this.rng.int(0, 150));
      const sent = await signalOwned(worker, 'SIGKILL');
      this.soak.fault('criu-kill', `${sent ? 'killed' : 'missed'} CRIU worker ${worker.pid} dumping tree ${t.pid} as ${id} (${final})`);
    } else {
      this.soak.fault('criu-kill', `no CRIU worker seen for Dump ${id} (it finished first)`);
    }
    const r = await call;
    this.soak.log(`  Dump ${id} answered ${grpc.status[r.code]}`);
    if (this.soak.pool.all().includes(t)) this.soak.pool.release(t);
  }

  /** SIGKILL of the CRIU worker restoring a checkpoint: the call fails, no task of the tree is left. */
  private async killCriuMidRestore(): Promise<void> {
    const candidates = await restorable(this.soak);
    const e = this.rng.pick(candidates.filter((x) => x.tree.shape === 'big')) ?? this.rng.pick(candidates);
    if (!e) return this.killCriuMidDump();
    let finished = false;
    const call = restoreEntry(this.soak, e, 'FINAL_STATE_RUNNING', 'fault.criu-kill.Restore', {
      expect: [grpc.status.INTERNAL, grpc.status.OK, grpc.status.ALREADY_EXISTS],
    }).finally(() => (finished = true));
    const worker = await waitForWorker(this.soak.agent.pid, path.join(this.soak.stateDir, 'checkpoints', e.id), 30_000, () => finished);
    if (worker) {
      await sleep(this.rng.int(0, 100));
      const sent = await signalOwned(worker, 'SIGKILL');
      this.soak.fault('criu-kill', `${sent ? 'killed' : 'missed'} CRIU worker ${worker.pid} restoring ${e.id}`);
    } else {
      this.soak.fault('criu-kill', `no CRIU worker seen for Restore ${e.id} (it finished first)`);
    }
    const r = await call;
    this.soak.log(`  Restore ${e.id} answered ${grpc.status[r.code]}`);
  }

  /** SIGKILL of the agent, restarted at once on the same socket and state dir; its CRIU workers must die with it. */
  private async killAgent(): Promise<void> {
    const agent = this.soak.agent;
    const old = agent.pid;
    const workers: OwnedPid[] = [];
    for (const pid of await criuWorkers(old)) {
      const o = await own(pid);
      if (o) workers.push(o);
    }
    await agent.kill();
    this.soak.fault(
      'agent-kill',
      `SIGKILLed agent ${old} with ${this.soak.inFlight} call(s) in flight and ${workers.length} CRIU worker(s)`,
    );
    await agent.start();
    this.restarts++;
    this.soak.log(`  agent restarted as pid ${agent.pid}`);
    // setpriv --pdeathsig: the workers die with the agent.
    await sleep(5000);
    for (const w of workers) {
      if (await stillSame(w))
        this.soak.violation('no-stray-process', `CRIU worker ${w.pid} of the killed agent ${old} still runs 5 s later`);
    }
  }

  /** The state dir's file system filled up (a file takes every free block), held a while, then freed. */
  private async fillFs(): Promise<void> {
    const fill = path.join(this.tmpfsDir, 'fill');
    const chunk = Buffer.alloc(4 << 20, 0x5a);
    const fh = await fsp.open(fill, 'w');
    let bytes = 0;
    try {
      for (;;) {
        try {
          const { bytesWritten } = await fh.write(chunk);
          bytes += bytesWritten;
          if (bytesWritten < chunk.length) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    } finally {
      await fh.close();
    }
    const holdMs = this.rng.int(5000, 12000);
    this.soak.fault('fs-fill', `filled the state dir's file system with ${(bytes / 2 ** 20).toFixed(0)} MiB, held ${holdMs} ms`);
    await sleep(holdMs);
    await fsp.rm(fill, { force: true });
  }

  /** A target SIGKILLed while it is being dumped: any listed status, no checkpoint left half-written, no stray. */
  private async killTargetMidDump(): Promise<void> {
    const t = await bigTarget(this.soak, this.rng);
    if (!t) return;
    const id = this.id('target');
    const final = this.rng.pick(['FINAL_STATE_RUNNING', 'FINAL_STATE_DEAD'] as const) ?? 'FINAL_STATE_RUNNING';
    const entry = this.soak.ledger.record(id, 'unknown', 'dump', { ...t.info, pids: t.owned.map((p) => p.pid) });
    entry.busy = true;
    let finished = false;
    const call = this.soak
      .call(
        'fault.target-kill.Dump',
        'Dump',
        { pid: t.pid, checkpoint_id: id, final_state: final },
        {
          deadlineMs: CRIU_DEADLINE_MS,
          expect: [grpc.status.OK, grpc.status.NOT_FOUND, grpc.status.INTERNAL, grpc.status.ABORTED],
        },
      )
      .finally(() => (finished = true));
    const worker = await waitForWorker(
      this.soak.agent.pid,
      path.join(this.soak.stateDir, 'checkpoints', `.tmp-${id}-`),
      30_000,
      () => finished,
    );
    await sleep(this.rng.int(0, 120));
    await this.soak.pool.retire(t);
    this.soak.fault('target-kill', `killed tree ${t.pid} (${t.info.shape}) ${worker ? 'while CRIU dumped it' : 'after its Dump'} as ${id}`);
    const r = await call;
    entry.fate = fateOf(r, id);
    entry.busy = false;
    this.soak.log(`  Dump ${id} answered ${grpc.status[r.code]}`);
  }
}
