import * as path from 'node:path';
import type { RestoreOptions__Output } from '../generated/criu_agent/v1/RestoreOptions';
import { AgentError } from '../errors';
import { resolveFinalState, type FinalState, type RequestedState } from '../finalState';
import { pidInUse, readProcess, waitForPidFree } from '../proctree';
import { validateCheckpointId } from '../store';
import { abortedOr, type ServiceContext } from './context';
import { restoreCriuOpts } from './options';

export interface RestoreParams {
  checkpointId: string;
  requested: RequestedState;
  options: Partial<RestoreOptions__Output>;
}

export interface RestoreResult {
  pid: number;
  finalState: FinalState;
  checkpointId: string;
  pids: number[];
  logPath: string;
}

/** Restore: recreate a dumped tree with its original pids. */
export class RestoreService {
  constructor(private readonly ctx: ServiceContext) {}

  async restore(p: RestoreParams, signal?: AbortSignal): Promise<RestoreResult> {
    const decision = resolveFinalState('restore', p.requested);
    if (!decision.ok) throw new AgentError('invalid-argument', decision.reason);
    validateCheckpointId(p.checkpointId);

    const record = await this.ctx.store.get(p.checkpointId);
    if (!record) throw new AgentError('not-found', `checkpoint ${p.checkpointId} does not exist`);
    if (record.kind !== 'dump') {
      throw new AgentError(
        'failed-precondition',
        `checkpoint ${p.checkpointId} is a ${record.kind}, which holds memory only; restore a Dump made with parent_checkpoint_id ${p.checkpointId}`,
      );
    }
    const release = this.ctx.locks.acquire(
      [`pid ${record.pid}`, `checkpoint ${p.checkpointId}`],
      `restore of checkpoint ${p.checkpointId} (pid ${record.pid})`,
    );
    try {
      await this.requirePidsFree(record.pids, p.checkpointId);
      const imagesDir = this.ctx.store.pathOf(p.checkpointId);
      const logFile = `restore-${new Date().toISOString().replace(/[:.]/g, '')}.log`;
      const opts = {
        ...restoreCriuOpts(p.options),
        log_level: this.ctx.deps.config.criuLogLevel,
        notify_scripts: true,
        ...(decision.applied === 'STOPPED' ? { leave_stopped: true } : {}),
      };
      let pid: number;
      try {
        ({ pid } = await this.ctx.criu.restore({ imagesDir, logFile, opts, signal }));
      } catch (err) {
        await this.killHalfRestored(record.pids);
        throw abortedOr(err, signal);
      }
      const snap = await this.ctx.verifyFinalState(pid, decision.applied, `restore of checkpoint ${p.checkpointId}`);
      return {
        pid,
        finalState: decision.applied,
        checkpointId: p.checkpointId,
        pids: snap?.processes.map((proc) => proc.pid) ?? [pid],
        logPath: path.join(imagesDir, logFile),
      };
    } finally {
      release();
    }
  }

  /**
   * A restore that failed or was cancelled half-way (CRIU killed) can leave
   * tasks that CRIU created but never finished restoring. The tree's pids were
   * all free when CRIU started and CRIU creates its tasks with exactly those
   * pids, so whatever holds one of them now is such a task: kill it rather
   * than leave a half-restored tree running.
   */
  private async killHalfRestored(pids: number[]): Promise<void> {
    for (const pid of pids) {
      if (!(await pidInUse(pid))) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }

  /**
   * CRIU restores every process with its original pid. A tree just dumped
   * with final state DEAD holds its pids as zombies until its parent reaps
   * them (PID 1 may take a second or two), so wait a bounded time first.
   */
  private async requirePidsFree(pids: number[], id: string): Promise<void> {
    for (const pid of pids) {
      if (await waitForPidFree(pid, this.ctx.deps.config.pidWaitMs)) continue;
      const holder = await readProcess(pid);
      if (!holder) continue;
      const zombie = holder.tasks.every((t) => t.state === 'zombie' || t.state === 'dead');
      throw new AgentError(
        'already-exists',
        `cannot restore checkpoint ${id}: pid ${pid} of its tree is in use by ${holder.comm} (parent ${holder.ppid})` +
          (zombie
            ? `, a zombie its parent has not reaped yet (waited ${this.ctx.deps.config.pidWaitMs} ms); retry shortly`
            : '; stop that process first, or restore on another node'),
      );
    }
  }
}
