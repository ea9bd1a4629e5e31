import { AgentError } from '../errors';
import { isKernelThread, readProcess, type TreeSnapshot } from '../proctree';

/** Pids no client may checkpoint, stop or signal through the agent. */
export async function guardTarget(pid: number): Promise<void> {
  if (pid === 1) throw new AgentError('permission-denied', 'refusing to touch pid 1 (the init process of this node)');
  if (pid === process.pid) throw new AgentError('permission-denied', `refusing to touch pid ${pid}: it is the agent itself`);
  if (await isKernelThread(pid)) throw new AgentError('permission-denied', `refusing to touch pid ${pid}: it is a kernel thread`);
}

/** A tree that contains the agent cannot be frozen by the agent's own CRIU. */
export function guardTree(s: TreeSnapshot): void {
  if (s.processes.some((p) => p.pid === process.pid)) {
    throw new AgentError('permission-denied', `refusing to touch the tree of pid ${s.rootPid}: the agent itself is part of it`);
  }
}

/** NOT_FOUND for a pid that does not exist, FAILED_PRECONDITION for a zombie. */
export async function requireLiveProcess(pid: number): Promise<void> {
  const p = await readProcess(pid);
  if (p === null) throw new AgentError('not-found', `no process with pid ${pid} on this node`);
  if (p.tasks.every((t) => t.state === 'zombie' || t.state === 'dead')) {
    throw new AgentError(
      'failed-precondition',
      `pid ${pid} (${p.comm}) has exited and is a zombie waiting for its parent (pid ${p.ppid}) to reap it`,
    );
  }
}
