import { readFile } from 'node:fs/promises';
import { AgentError, invalidArgument } from '../errors';
import { isKernelThread, isZombieProcess, readProcess, readStat, type TreeSnapshot } from '../proctree';

/** The ppid walk gives up after this many steps (a real chain is a few dozen deep at most). */
const MAX_ANCESTRY = 4096;

/**
 * The operator's allow-list of targets (--allow-cgroup, --allow-uid): a
 * process must be in one of the cgroups (a cgroup v2 path or below it) and
 * owned by one of the uids. An empty list does not restrict.
 */
export interface TargetRules {
  readonly allowCgroups: readonly string[];
  readonly allowUids: readonly number[];
}

/**
 * Pids no client may checkpoint, stop or signal through the agent: pid 1, the
 * agent itself and its threads, kernel threads, and any process whose tree
 * holds the agent (its parent, grandparent, ...: CRIU would freeze the agent
 * together with the tree it is dumping). Checked before any lock is taken or
 * CRIU started; guardTree checks the tree again once it is walked.
 */
export async function guardTarget(pid: number, rules?: TargetRules): Promise<void> {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw invalidArgument(`pid must be a positive process id, got ${String(pid)}`);
  if (pid === 1) throw new AgentError('permission-denied', 'refusing to touch pid 1 (the init process of this node)');
  if (pid === process.pid) throw new AgentError('permission-denied', `refusing to touch pid ${pid}: it is the agent itself`);
  if ((await tgidOf(pid)) === process.pid) {
    throw new AgentError('permission-denied', `refusing to touch pid ${pid}: it is a thread of the agent itself (pid ${process.pid})`);
  }
  if (await isKernelThread(pid)) throw new AgentError('permission-denied', `refusing to touch pid ${pid}: it is a kernel thread`);
  const ancestry = await ancestorsOfAgent();
  const at = ancestry.indexOf(pid);
  if (at >= 0) {
    const relation = at === 0 ? "the agent's parent" : `an ancestor of the agent, ${at + 1} levels up`;
    throw new AgentError(
      'permission-denied',
      `refusing to touch the tree of pid ${pid}: the agent itself is part of it (pid ${pid} is ${relation}, pid ${process.pid}) ` +
        'and would be frozen with it; name the root of a tree the agent is not part of',
    );
  }
  const worker = await agentCriuWorkerAbove(pid);
  if (worker !== undefined) {
    throw new AgentError(
      'permission-denied',
      worker === pid
        ? `refusing to touch pid ${pid}: it is one of the agent's own CRIU workers`
        : `refusing to touch pid ${pid}: it descends from the agent's CRIU worker ${worker} (a tree being restored or dumped right now)`,
    );
  }
  if (rules) await guardRules(pid, rules);
}

/** Names the agent starts CRIU under. */
const WORKER_COMMS = new Set(['criu']);

/**
 * The agent's own CRIU worker that `pid` is or descends from, if any: a
 * child of the agent named criu. Trees CRIU is restoring are its children
 * until it lets go of them; a finished restore is reparented away from the
 * worker, so restored trees are not refused by this.
 */
async function agentCriuWorkerAbove(pid: number): Promise<number | undefined> {
  let current = pid;
  for (let depth = 0; depth < MAX_ANCESTRY && current > 1; depth++) {
    const st = await readStat(current).catch(() => null);
    if (!st) return undefined;
    if (st.ppid === process.pid) return WORKER_COMMS.has(st.comm) ? current : undefined;
    current = st.ppid;
  }
  return undefined;
}

/**
 * The allow-list rules, checked on the tree's root (the pid the client
 * names). A pid that does not exist passes here: requireLiveProcess says
 * NOT_FOUND for it, which tells nothing a client could not learn otherwise.
 */
export async function guardRules(pid: number, rules: TargetRules): Promise<void> {
  if (rules.allowCgroups.length > 0) {
    let text: string | undefined;
    try {
      text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      // gone: see above
    }
    if (text !== undefined) {
      const cgroup = /^0::(.*)$/m.exec(text)?.[1];
      if (cgroup === undefined) {
        throw new AgentError(
          'permission-denied',
          `refusing to touch pid ${pid}: --allow-cgroup is set, but pid ${pid} is in no cgroup v2 hierarchy (no "0::" line in /proc/${pid}/cgroup)`,
        );
      }
      if (!rules.allowCgroups.some((prefix) => cgroupUnder(cgroup, prefix))) {
        throw new AgentError(
          'permission-denied',
          `refusing to touch pid ${pid}: its cgroup ${cgroup} is not under any --allow-cgroup (${rules.allowCgroups.join(', ')})`,
        );
      }
    }
  }
  if (rules.allowUids.length > 0) {
    let text: string | undefined;
    try {
      text = await readFile(`/proc/${pid}/status`, 'utf8');
    } catch {
      // gone: see above
    }
    const uids = text === undefined ? undefined : /^Uid:\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(text)?.slice(1).map(Number);
    if (uids) {
      // Real, effective, saved and filesystem uid: a set-uid program started by an allowed user is not that user's.
      const names = ['real', 'effective', 'saved', 'filesystem'];
      const bad = uids.findIndex((u) => !rules.allowUids.includes(u));
      if (bad >= 0) {
        throw new AgentError(
          'permission-denied',
          `refusing to touch pid ${pid}: its ${names[bad] ?? ''} uid ${uids[bad] ?? ''} is not an --allow-uid (${rules.allowUids.join(', ')})`,
        );
      }
    }
  }
}

/** `cgroup` is `prefix` or below it (path components, not characters: /a.slice does not cover /a.slice2). */
export function cgroupUnder(cgroup: string, prefix: string): boolean {
  return prefix === '/' || cgroup === prefix || cgroup.startsWith(prefix + '/');
}

/** A tree that contains the agent cannot be frozen by the agent's own CRIU. */
export function guardTree(s: TreeSnapshot): void {
  if (s.processes.some((p) => p.pid === process.pid)) {
    throw new AgentError('permission-denied', `refusing to touch the tree of pid ${s.rootPid}: the agent itself is part of it`);
  }
}

/** NOT_FOUND for a pid that does not exist (or is a thread, not a process), FAILED_PRECONDITION for a zombie. */
export async function requireLiveProcess(pid: number): Promise<void> {
  const p = await readProcess(pid);
  if (p === null) {
    const tgid = await tgidOf(pid);
    if (tgid !== null && tgid !== pid) {
      throw new AgentError(
        'not-found',
        `no process with pid ${pid} on this node: ${pid} is a thread of process ${tgid}; name a process (the root of its tree), not a thread`,
      );
    }
    throw new AgentError('not-found', `no process with pid ${pid} on this node`);
  }
  if (isZombieProcess(p)) {
    throw new AgentError(
      'failed-precondition',
      `pid ${pid} (${p.comm}) has exited and is a zombie waiting for its parent (pid ${p.ppid}) to reap it; there is nothing left to checkpoint`,
    );
  }
}

/** The thread-group id of a pid or tid (the process a thread belongs to); null when there is none. */
async function tgidOf(pid: number): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const m = /^Tgid:\s*(\d+)$/m.exec(text);
  return m?.[1] === undefined ? null : Number(m[1]);
}

/** The agent's parent, grandparent, ... up to (without) pid 1, nearest first. */
async function ancestorsOfAgent(): Promise<number[]> {
  const out: number[] = [];
  let pid = process.ppid;
  while (pid > 1 && out.length < MAX_ANCESTRY && !out.includes(pid)) {
    out.push(pid);
    const st = await readStat(pid).catch(() => null);
    if (!st) break;
    pid = st.ppid;
  }
  return out;
}
