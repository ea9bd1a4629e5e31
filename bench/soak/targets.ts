/**
 * The soak's process trees: started from the tests' and the bench's own
 * targets (test/fixtures/target.py through test/helpers/target.ts, and
 * bench/workload.py through bench/lib/workloads.ts), restored from
 * checkpoints as they go, and retired at random.
 *
 * One operation at a time owns a tree (a lease), so the state the soak
 * expects of each tree (running, or stopped because a call asked for it)
 * is always known, and the checker can hold every idle tree to it.
 */
import { promises as fsp } from 'node:fs';
import { pidInUse, waitForPidFree } from '../../src/proctree';
import { queryTarget, startTarget } from '../../test/helpers/target';
import { startWorkload } from '../lib/workloads';
import { cgroupFrozen, own, signalOwned, stillSame, taskStates, zombieFate, type OwnedPid } from './procs';
import type { Rng } from './rng';

/** The kinds of trees: target.py (threads, a TCP server, open files, a hashed buffer) and bench/workload.py. */
export type Shape = 'single' | 'tree' | 'big' | 'files' | 'procs' | 'sleep';

export const SHAPES: readonly Shape[] = ['single', 'tree', 'big', 'files', 'procs', 'sleep'];

/** What a checkpoint of a tree needs to check the tree it restores. */
export interface TreeInfo {
  shape: Shape;
  /** target.py only: its TCP port, children and the sha256 of its buffer. */
  port?: number;
  childPids?: number[];
  memSha?: string;
  /** Every pid of the tree, root first. */
  pids: number[];
}

export interface SoakTarget {
  /** The soak's own number, for messages. */
  readonly n: number;
  readonly info: TreeInfo;
  readonly pid: number;
  readonly owned: OwnedPid[];
  readonly origin: 'started' | 'restored';
  expected: 'running' | 'stopped';
  /** The call that asked for STOPPED. */
  stoppedBy?: string;
  leased: boolean;
  /** A temp dir to remove at retirement (target.py's ready file). */
  tmpDir?: string;
}

/** A problem the checker found with a tree. */
export interface TreeProblem {
  kind: 'harmed' | 'frozen' | 'stopped' | 'traced' | 'not-stopped' | 'not-serving';
  target: SoakTarget;
  detail: string;
}

const PID_FREE_MS = 15_000;

export class TargetPool {
  private readonly targets = new Set<SoakTarget>();
  private counter = 0;
  /** Pids of trees the soak retired or saw die, for hostile calls on dead pids. */
  readonly deadPids: number[] = [];
  started = 0;
  restored = 0;
  retired = 0;

  constructor(
    private readonly scratchDir: string,
    private readonly filesDir: string,
  ) {}

  all(): SoakTarget[] {
    return [...this.targets];
  }

  size(): number {
    return this.targets.size;
  }

  /** Starts a tree of the given shape. */
  async start(shape: Shape): Promise<SoakTarget> {
    let info: TreeInfo;
    let tmpDir: string | undefined;
    if (shape === 'single' || shape === 'tree' || shape === 'big') {
      const t = await startTarget({ children: shape === 'single' ? 0 : shape === 'tree' ? 3 : 1, extraMiB: shape === 'big' ? 48 : 0 });
      const s = await t.query(5000);
      info = { shape, port: t.port, childPids: [...t.childPids], memSha: s.mem_sha256_at_start, pids: [...t.allPids] };
      tmpDir = t.dir;
    } else {
      const spec =
        shape === 'files'
          ? { kind: 'files' as const, count: 0 }
          : shape === 'procs'
            ? { kind: 'tree' as const, procs: 6 }
            : { kind: 'sleep' as const };
      const w = await startWorkload({ name: shape, description: shape, spec }, this.scratchDir, this.filesDir);
      info = { shape, pids: [...w.pids] };
    }
    const target = await this.adopt(info, 'started', 'running');
    if (tmpDir) target.tmpDir = tmpDir;
    this.started++;
    return target;
  }

  /** Takes on a tree (a restored one, or one just started) as the soak's own. */
  async adopt(info: TreeInfo, origin: 'started' | 'restored', expected: 'running' | 'stopped', stoppedBy?: string): Promise<SoakTarget> {
    const owned: OwnedPid[] = [];
    for (const pid of info.pids) {
      const o = await own(pid);
      if (!o) throw new Error(`pid ${pid} of a new ${info.shape} tree is gone already`);
      owned.push(o);
    }
    const target: SoakTarget = { n: ++this.counter, info, pid: info.pids[0] ?? 0, owned, origin, expected, stoppedBy, leased: true };
    this.targets.add(target);
    if (origin === 'restored') this.restored++;
    return target;
  }

  /** Leases an idle tree that passes filter, chosen at random; undefined when none. */
  lease(rng: Rng, filter: (t: SoakTarget) => boolean = () => true): SoakTarget | undefined {
    const t = rng.pick(this.all().filter((x) => !x.leased && filter(x)));
    if (t) t.leased = true;
    return t;
  }

  release(t: SoakTarget): void {
    t.leased = false;
  }

  /**
   * SIGKILLs a tree of the soak's (each pid only while it still names the
   * process the soak took on) and waits for its pids to be free.
   */
  async retire(t: SoakTarget): Promise<void> {
    for (const p of t.owned) await signalOwned(p, 'SIGKILL');
    await this.forget(t);
    this.retired++;
  }

  /**
   * Drops a tree that is gone (dumped DEAD, or killed), once its pids are
   * free. `returning`: the tree lives on elsewhere and comes back with the
   * same pids (a Migrate round trip), so they are no dead pids for hostile
   * calls.
   */
  async forget(t: SoakTarget, returning = false): Promise<void> {
    this.targets.delete(t);
    for (const p of t.owned) {
      if (await stillSame(p)) await waitForPidFree(p.pid, PID_FREE_MS);
      if (!returning && !(await pidInUse(p.pid))) this.deadPids.push(p.pid);
    }
    if (this.deadPids.length > 64) this.deadPids.splice(0, this.deadPids.length - 64);
    if (t.tmpDir) await fsp.rm(t.tmpDir, { recursive: true, force: true });
  }

  /** True when no process of the tree is left (zombies count as left until reaped). */
  async gone(t: SoakTarget): Promise<boolean> {
    for (const p of t.owned) if (await stillSame(p)) return false;
    return true;
  }

  /**
   * Holds a tree to what the soak expects of it: every process alive and
   * not a zombie, no task traced, no frozen cgroup, and every task stopped
   * exactly when a call asked for STOPPED.
   */
  async inspect(t: SoakTarget): Promise<TreeProblem | null> {
    for (const p of t.owned) {
      if (!(await stillSame(p)))
        return { kind: 'harmed', target: t, detail: `pid ${p.pid} of tree ${t.pid} (${t.info.shape}) died, no call asked for it` };
      const tasks = await taskStates(p.pid);
      if (!tasks) return { kind: 'harmed', target: t, detail: `pid ${p.pid} of tree ${t.pid} vanished` };
      if (tasks[0]?.state === 'Z' || tasks.every((x) => x.state === 'Z' || x.state === 'X')) {
        const fate = await zombieFate(p.pid);
        return {
          kind: 'harmed',
          target: t,
          detail: `pid ${p.pid} of tree ${t.pid} (${t.info.shape}) died${fate ? ` (${fate})` : ''}, no call asked for it`,
        };
      }
      const traced = tasks.find((x) => x.tracer !== 0);
      if (traced) return { kind: 'traced', target: t, detail: `task ${traced.tid} of tree ${t.pid} is traced by pid ${traced.tracer}` };
      const stopped = tasks.filter((x) => x.state === 'T' || x.state === 't');
      const live = tasks.filter((x) => x.state !== 'Z' && x.state !== 'X');
      if (t.expected === 'running' && stopped.length > 0) {
        return {
          kind: 'stopped',
          target: t,
          detail: `tree ${t.pid}: task ${stopped[0]?.tid} is ${stopped[0]?.state}, though no call left it STOPPED`,
        };
      }
      if (t.expected === 'stopped' && stopped.length !== live.length) {
        return {
          kind: 'not-stopped',
          target: t,
          detail: `tree ${t.pid}: stopped by ${t.stoppedBy ?? '?'}, but pid ${p.pid} has running tasks`,
        };
      }
      if (await cgroupFrozen(p.pid)) return { kind: 'frozen', target: t, detail: `pid ${p.pid} of tree ${t.pid} is in a frozen cgroup` };
    }
    return null;
  }

  /**
   * For a running target.py tree: it answers on its port, with its pid,
   * its children and its buffer intact. Call only while holding the lease
   * (a connection caught by a dump would make CRIU refuse it).
   */
  async serves(t: SoakTarget): Promise<string | null> {
    const { port, childPids, memSha } = t.info;
    if (port === undefined || t.expected !== 'running') return null;
    try {
      const s = await queryTarget(t.pid, port, 5000);
      if (s.pid !== t.pid) return `answered as pid ${s.pid}`;
      if (JSON.stringify(s.children) !== JSON.stringify(childPids))
        return `children ${JSON.stringify(s.children)}, expected ${JSON.stringify(childPids)}`;
      if (s.mem_sha256_now !== s.mem_sha256_at_start || (memSha && s.mem_sha256_now !== memSha)) return 'its memory buffer changed';
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  }
}
