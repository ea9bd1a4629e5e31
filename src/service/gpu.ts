import { readFile } from 'node:fs/promises';
import { AgentError, errorMessage } from '../errors';
import {
  GpuCallError,
  findGpuProcesses,
  findParkedGpuProcesses,
  formatDriverVersion,
  nvidiaDeviceUsers,
  type GpuDriver,
  type GpuPair,
} from '../gpu';
import type { GpuRecord } from '../store';

/** What the agent did to one GPU process, for replies and the manifest (where it is kept as it is). */
export type GpuProcessReport = GpuRecord;

export interface GpuOptions {
  /** How long Lock waits for CUDA calls already running in a process (cuCheckpointProcessLock's timeoutMs). */
  lockTimeoutMs: number;
  /** Resident bytes of a process; a seam for tests. */
  residentBytes?: (pid: number) => Promise<number>;
  /** Monotonic milliseconds; a seam for tests. */
  now?: () => number;
  /** Where /proc is; a seam for tests. */
  procRoot?: string;
}

async function readResidentBytes(pid: number): Promise<number> {
  try {
    const fields = (await readFile(`/proc/${pid}/statm`, 'utf8')).split(' ');
    return Number(fields[1] ?? 0) * 4096;
  } catch {
    return 0;
  }
}

/**
 * The GPU steps around CRIU, in the order of CRIU's own cuda plugin
 * (plugins/cuda/cuda_plugin.c): Lock and Checkpoint before CRIU freezes the
 * tree, Restore and Unlock after; every step has an unwind path, so no
 * failure leaves a process locked or without its GPU memory.
 *
 * Final states (see README "GPU trees"):
 * - Dump DEAD: nothing after CRIU (the tree is killed, the driver frees all).
 * - Dump RUNNING: Restore + Unlock after CRIU.
 * - Dump STOPPED: the tree stays stopped with its GPU state checkpointed into
 *   host memory (its GPU memory freed). The driver's Restore needs the
 *   process's own restore thread to run, which a SIGSTOPped process cannot,
 *   so Continue does it: SIGCONT, then Restore + Unlock ({@link resumeParked}).
 *   CUDA calls made in between wait on the lock.
 * - Restore RUNNING: CRIU restores the tree running (NVIDIA's documented
 *   order: criu restore, then restore the CUDA state), then Restore + Unlock
 *   before the reply says RUNNING. Restore STOPPED: left as Dump STOPPED.
 * - PreDump: host memory only; GPU state is taken by the final Dump.
 */
export class GpuCheckpointer {
  private readonly residentBytes: (pid: number) => Promise<number>;
  private readonly now: () => number;
  private readonly procRoot: string;

  constructor(
    readonly driver: GpuDriver,
    private readonly options: GpuOptions,
  ) {
    this.residentBytes = options.residentBytes ?? readResidentBytes;
    this.now = options.now ?? (() => performance.now());
    this.procRoot = options.procRoot ?? '/proc';
  }

  /**
   * FAILED_PRECONDITION unless the driver and its checkpoint API are there;
   * the message names the driver version so an operator knows what to upgrade.
   */
  requireApi(what: string): void {
    const p = this.driver.probe();
    if (!p.driverLoaded) {
      throw new AgentError(
        'failed-precondition',
        `${what} needs NVIDIA's driver: no NVIDIA driver (libcuda.so.1 not found: ${p.loadError})`,
      );
    }
    if (!p.checkpointApi) {
      const why = p.initError ? `cuInit failed with ${p.initError}` : 'it lacks cuCheckpointProcess* (driver 550 or later has them)';
      throw new AgentError(
        'failed-precondition',
        `${what} needs the CUDA checkpoint API, but NVIDIA driver with CUDA ${formatDriverVersion(p.driverVersion)} (${p.driverVersion}): ${why}`,
      );
    }
  }

  /**
   * Before CRIU dumps `pids`: Lock every GPU process of the tree (all first,
   * so that no process waits on a peer that is already parked), then
   * Checkpoint them. Null when the tree holds no CUDA state (no driver is
   * touched then). A Lock that times out is ABORTED with every process
   * unlocked again; any other failure unwinds what was done and is INTERNAL.
   */
  async beforeDump(pids: readonly number[]): Promise<GpuDump | null> {
    const touching = await nvidiaDeviceUsers(pids, this.procRoot);
    if (touching.length === 0) return null;
    this.requireApi(`dumping GPU process ${touching.join(', ')}`);
    const candidates = (await findGpuProcesses(this.driver, touching, this.procRoot)).filter((p) => p.state === 'running');
    if (candidates.length === 0) return null;
    const reports = new Map<number, GpuProcessReport>(
      candidates.map((p) => [p.pid, { pid: p.pid, lockMs: 0, checkpointMs: 0, restoreMs: 0, unlockMs: 0, checkpointBytes: 0 }]),
    );
    const locked: number[] = [];
    const checkpointed: number[] = [];
    try {
      for (const p of candidates) {
        await this.timed(reports, p.pid, 'lockMs', () => this.driver.lock(p.pid, this.options.lockTimeoutMs));
        locked.push(p.pid);
      }
      await Promise.all(
        candidates.map(async (p) => {
          const before = await this.residentBytes(p.pid);
          await this.timed(reports, p.pid, 'checkpointMs', () => this.driver.checkpoint(p.pid));
          checkpointed.push(p.pid);
          const r = reports.get(p.pid);
          if (r) r.checkpointBytes = Math.max(0, (await this.residentBytes(p.pid)) - before);
        }),
      );
    } catch (err) {
      // A Checkpoint that failed may still have moved the state (the driver
      // is asked): such a process needs Restore before Unlock as well.
      const parked = new Set(checkpointed);
      for (const pid of locked) if (this.stateOf(pid) === 'checkpointed') parked.add(pid);
      const unwind = await this.unwind([...parked], locked, reports);
      throw this.stepError(err, unwind);
    }
    return new GpuDump(
      this,
      candidates.map((p) => p.pid),
      reports,
    );
  }

  /**
   * PreDump of a GPU tree is refused (FAILED_PRECONDITION) rather than
   * attempted: CRIU cannot copy memory mapped from /dev/nvidia*, and the
   * driver moves GPU state only whole, so a pre-dump round could save host
   * memory only and would not be what an iterative migration expects. GPU
   * state is taken by the final Dump.
   */
  async refusePreDump(pids: readonly number[]): Promise<void> {
    const users = await nvidiaDeviceUsers(pids, this.procRoot);
    if (users.length > 0) {
      throw new AgentError(
        'failed-precondition',
        `PreDump of a tree with GPU processes (pid ${users.join(', ')}) is not supported: GPU state moves only in a Dump, whole; call Dump directly`,
      );
    }
  }

  /**
   * Gives the processes of a tree whose GPU state is parked (checkpointed or
   * locked) their GPUs back: Restore (onto `pairs` when given) then Unlock.
   * The tree must be running: the driver's restore thread in each process
   * does the work. Every process is tried even when one fails.
   */
  async resumeParked(pids: readonly number[], pairs?: GpuPair[]): Promise<GpuProcessReport[]> {
    const probe = this.driver.probe();
    if (!probe.driverLoaded || !probe.checkpointApi) return [];
    const parked = findParkedGpuProcesses(this.driver, pids);
    const reports = new Map<number, GpuProcessReport>(
      parked.map((p) => [p.pid, { pid: p.pid, lockMs: 0, checkpointMs: 0, restoreMs: 0, unlockMs: 0, checkpointBytes: 0 }]),
    );
    const failures = await this.unwind(
      parked.filter((p) => p.state === 'checkpointed').map((p) => p.pid),
      parked.map((p) => p.pid),
      reports,
      pairs,
    );
    if (failures.length > 0) {
      throw new AgentError('internal', `giving GPU state back failed: ${failures.join('; ')}`);
    }
    return [...reports.values()];
  }

  /** @internal Restore then Unlock; returns the failures (never throws). */
  async unwind(
    checkpointed: readonly number[],
    locked: readonly number[],
    reports: Map<number, GpuProcessReport>,
    pairs?: GpuPair[],
  ): Promise<string[]> {
    const failures: string[] = [];
    const restoredOk = new Set<number>();
    await Promise.all(
      checkpointed.map(async (pid) => {
        try {
          await this.timed(reports, pid, 'restoreMs', () => this.driver.restore(pid, pairs));
          restoredOk.add(pid);
        } catch (err) {
          failures.push(errorMessage(err));
        }
      }),
    );
    for (const pid of locked) {
      // A process whose Restore failed is still checkpointed: Unlock would be refused.
      if (checkpointed.includes(pid) && !restoredOk.has(pid)) continue;
      try {
        await this.timed(reports, pid, 'unlockMs', () => this.driver.unlock(pid));
      } catch (err) {
        failures.push(errorMessage(err));
      }
    }
    return failures;
  }

  private stateOf(pid: number): string {
    try {
      return this.driver.getState(pid);
    } catch {
      return 'unknown';
    }
  }

  private stepError(err: unknown, unwindFailures: string[]): AgentError {
    const tail = unwindFailures.length > 0 ? `; undoing it also failed: ${unwindFailures.join('; ')}` : '';
    if (err instanceof GpuCallError && err.step === 'lock' && err.isTimeout) {
      return new AgentError(
        'aborted',
        `process ${err.pid} did not leave its CUDA calls within ${this.options.lockTimeoutMs} ms (cuCheckpointProcessLock timed out); nothing was changed, retry later${tail}`,
        { cause: err },
      );
    }
    if (err instanceof AgentError) return err;
    return new AgentError(
      'internal',
      `GPU checkpoint failed: ${errorMessage(err)}${unwindFailures.length ? tail : '; every process got its GPU state back'}`,
      {
        cause: err,
      },
    );
  }

  private async timed(
    reports: Map<number, GpuProcessReport>,
    pid: number,
    field: keyof Omit<GpuProcessReport, 'pid' | 'checkpointBytes'>,
    fn: () => Promise<void>,
  ): Promise<void> {
    const start = this.now();
    try {
      await fn();
    } finally {
      const r = reports.get(pid);
      if (r) r[field] += this.now() - start;
    }
  }
}

/** GPU processes of one Dump between Checkpoint and CRIU's end. */
export class GpuDump {
  private done = false;

  constructor(
    private readonly owner: GpuCheckpointer,
    readonly pids: readonly number[],
    private readonly reports: Map<number, GpuProcessReport>,
  ) {}

  /**
   * After CRIU dumped: by final state. DEAD: nothing; RUNNING: Restore +
   * Unlock; STOPPED: nothing now (Continue finishes it, see GpuCheckpointer).
   */
  async afterDump(finalState: 'DEAD' | 'RUNNING' | 'STOPPED'): Promise<GpuProcessReport[]> {
    this.done = true;
    if (finalState === 'RUNNING') {
      const failures = await this.owner.unwind(this.pids, this.pids, this.reports);
      if (failures.length > 0) {
        throw new AgentError(
          'internal',
          `the checkpoint is complete, but giving the tree its GPU state back failed: ${failures.join('; ')}`,
        );
      }
    }
    return this.report();
  }

  /**
   * CRIU failed (it resumes the tree it froze): Restore + Unlock every
   * process, so the workload runs on as before. Returns what could not be
   * undone, for the caller to add to CRIU's error.
   */
  async abort(): Promise<string[]> {
    if (this.done) return [];
    this.done = true;
    return this.owner.unwind(this.pids, this.pids, this.reports);
  }

  report(): GpuProcessReport[] {
    return [...this.reports.values()];
  }
}
