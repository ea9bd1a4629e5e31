import { AgentError } from '../errors';
import { resolveFinalState } from '../finalState';
import { continueTree, readStartTime, snapshotTree, treeStatus } from '../proctree';
import { describeStatus, type ServiceContext } from './context';
import type { GpuProcessReport } from './gpu';
import { guardTarget, guardTree } from './guards';

/** Continue: resume a stopped tree (what CRIU's pstree_cont.py does). */
export class ContinueService {
  constructor(private readonly ctx: ServiceContext) {}

  async continue(pid: number): Promise<{ pids: number[]; stoppedBy: string; gpu: GpuProcessReport[] }> {
    const decision = resolveFinalState('continue', 'UNSPECIFIED');
    if (!decision.ok) throw new AgentError('internal', decision.reason);
    await guardTarget(pid, this.ctx.targetRules);
    // A tree an earlier run's CRIU still holds is not the caller's to resume yet.
    await this.ctx.recovered();
    const release = this.ctx.locks.acquire([`pid ${pid}`], `continue of pid ${pid}`);
    try {
      const snap = await snapshotTree(pid);
      if (!snap) throw new AgentError('not-found', `no process with pid ${pid} on this node`);
      guardTree(snap);
      const status = treeStatus(snap);
      if (status === 'gone') {
        throw new AgentError(
          'failed-precondition',
          `pid ${pid} has exited and is a zombie waiting for its parent to reap it; there is nothing to continue`,
        );
      }
      if (status !== 'stopped') {
        throw new AgentError(
          'failed-precondition',
          `the tree of pid ${pid} is ${describeStatus(status, snap)}, not stopped; Continue only resumes a tree whose every process is stopped`,
        );
      }
      const mine = await this.ctx.stopped.find(pid, await readStartTime(pid));
      const pids = await continueTree(snap);
      // A STOPPED Dump or Restore by this agent left GPU state parked in host
      // memory: the driver's Restore needs the process running, so it comes
      // after SIGCONT (see GpuCheckpointer). Trees stopped by others are theirs.
      const gpu = mine ? await this.ctx.gpu.resumeParked(pids) : [];
      // The tree runs now whatever happens to the record. One that cannot be
      // rewritten (a full disk) stays until the next start prunes it; until
      // then it only makes a Continue of this same process, if someone else
      // stops it, name this agent's earlier stop.
      if (mine) await this.ctx.stopped.remove(pid).catch(() => undefined);
      await this.ctx.verifyFinalState(pid, decision.applied, `continue of pid ${pid}`);
      return { pids, stoppedBy: mine?.by ?? '', gpu };
    } finally {
      release();
    }
  }

  /**
   * At start: forget trees recorded as stopped by the agent that are gone,
   * whose pid now names another process, or that someone else resumed.
   */
  async forgetStale(): Promise<void> {
    await this.ctx.stopped.prune(
      async (t) => (await readStartTime(t.pid)) === t.startTime && treeStatus(await snapshotTree(t.pid)) === 'stopped',
    );
  }
}
