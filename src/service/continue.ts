import { AgentError } from '../errors';
import { resolveFinalState } from '../finalState';
import { continueTree, snapshotTree, treeStatus } from '../proctree';
import { describeStatus, type ServiceContext } from './context';
import { guardTarget, guardTree } from './guards';

/** Continue: resume a stopped tree (what CRIU's pstree_cont.py does). */
export class ContinueService {
  constructor(private readonly ctx: ServiceContext) {}

  async continue(pid: number): Promise<{ pids: number[] }> {
    const decision = resolveFinalState('continue', 'UNSPECIFIED');
    if (!decision.ok) throw new AgentError('internal', decision.reason);
    await guardTarget(pid);
    const release = this.ctx.locks.acquire([`pid ${pid}`], `continue of pid ${pid}`);
    try {
      const snap = await snapshotTree(pid);
      if (!snap) throw new AgentError('not-found', `no process with pid ${pid} on this node`);
      guardTree(snap);
      const status = treeStatus(snap);
      if (status !== 'stopped') {
        throw new AgentError(
          'failed-precondition',
          `the tree of pid ${pid} is ${describeStatus(status, snap)}, not stopped; Continue only resumes a tree whose every process is stopped`,
        );
      }
      const pids = await continueTree(snap);
      await this.ctx.verifyFinalState(pid, decision.applied, `continue of pid ${pid}`);
      return { pids };
    } finally {
      release();
    }
  }
}
