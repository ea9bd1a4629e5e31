import * as os from 'node:os';
import type { AgentConfig } from '../config';
import type { CriuClient, CriuFeatures, CriuVersion } from '../criu/client';
import type { RegistryClient } from '../registry/client';
import { AgentError } from '../errors';
import { CudaDriver, type GpuDriver } from '../gpu';
import type { FinalState } from '../finalState';
import { continueTree, snapshotTree, treeStatus, waitForTreeStatus, type TreeSnapshot, type TreeStatus } from '../proctree';
import { RestoreJournal, StoppedTrees, type CheckpointStore } from '../store';
import { GpuCheckpointer } from './gpu';
import type { TargetRules } from './guards';
import { Limiter } from './limiter';
import { KeyedLocks } from './locks';

/** What every service object is built from; tests pass fakes for criu. */
export interface ServiceDeps {
  config: AgentConfig;
  criu: CriuClient;
  store: CheckpointStore;
  /** The OCI registry client of PushCheckpoint/PullCheckpoint; default: HttpRegistryClient with config.registry. */
  registry?: RegistryClient;
  /** NVIDIA's driver; by default libcuda.so.1, loaded only when a tree uses a GPU or Check asks. */
  gpu?: GpuDriver;
  /** Where /proc is for finding GPU processes; a seam for tests (default /proc). */
  gpuProcRoot?: string;
  /** Settles when the clean-up after an earlier run is over (see recovery.ts); default: already. */
  recovered?: Promise<void>;
}

/**
 * How long Dump lets cuCheckpointProcessLock wait for CUDA calls already
 * running in a process before giving up with ABORTED (nothing changed).
 */
export const GPU_LOCK_TIMEOUT_MS = 10_000;

/** State the capability services share: the locks, and CRIU facts that do not change while the agent runs. */
export class ServiceContext {
  readonly locks = new KeyedLocks();
  readonly inFlight = new InFlight();
  readonly limiter: Limiter;
  readonly stopped: StoppedTrees;
  /** Trees a Migrate holds on this node, frozen or stopped, until the destination has them. */
  readonly migrating: StoppedTrees;
  readonly restoring: RestoreJournal;
  readonly kernel = os.release();
  private featuresCache?: Promise<CriuFeatures>;
  private versionCache?: Promise<CriuVersion>;
  /** The GPU steps around CRIU (./gpu.ts). */
  readonly gpu: GpuCheckpointer;

  constructor(readonly deps: ServiceDeps) {
    this.limiter = new Limiter(deps.config.maxConcurrentOperations);
    this.stopped = new StoppedTrees(deps.store.stateDir);
    this.migrating = new StoppedTrees(deps.store.stateDir, 'migrating.json');
    this.restoring = new RestoreJournal(deps.store.stateDir);
    this.gpu = new GpuCheckpointer(deps.gpu ?? new CudaDriver(), {
      lockTimeoutMs: GPU_LOCK_TIMEOUT_MS,
      ...(deps.gpuProcRoot ? { procRoot: deps.gpuProcRoot } : {}),
    });
  }

  /** Which processes clients may target at all (--allow-cgroup, --allow-uid); empty lists: any. */
  get targetRules(): TargetRules {
    return { allowCgroups: this.deps.config.allowCgroups ?? [], allowUids: this.deps.config.allowUids ?? [] };
  }

  /**
   * Waits until the clean-up after an earlier run of the agent is over: a
   * CRIU of that run may still hold a tree, or create tasks for a restore
   * that is about to be undone. Operations that run CRIU or signal a tree
   * call this first; usually it has long settled.
   */
  recovered(signal?: AbortSignal): Promise<void> {
    return untilAborted(this.deps.recovered ?? Promise.resolve(), signal);
  }

  get criu(): CriuClient {
    return this.deps.criu;
  }

  get store(): CheckpointStore {
    return this.deps.store;
  }

  /**
   * Kernel features as CRIU sees them; asked once and shared, so the shared
   * request runs without any one caller's signal (one caller cancelling must
   * not fail the others); a failed answer is asked again next time.
   */
  features(signal?: AbortSignal): Promise<CriuFeatures> {
    this.featuresCache ??= this.deps.criu.features().catch((err: unknown) => {
      this.featuresCache = undefined;
      throw err;
    });
    return untilAborted(this.featuresCache, signal);
  }

  version(signal?: AbortSignal): Promise<CriuVersion> {
    this.versionCache ??= this.deps.criu.version().catch((err: unknown) => {
      this.versionCache = undefined;
      throw err;
    });
    return untilAborted(this.versionCache, signal);
  }

  /**
   * Checks in /proc that the tree is in the state the operation is about to
   * report. Signals land asynchronously after CRIU replies, so this polls for
   * a short while before calling it a mismatch.
   */
  async verifyFinalState(pid: number, want: FinalState, what: string): Promise<TreeSnapshot | null> {
    const expected: TreeStatus = want === 'DEAD' ? 'gone' : want === 'STOPPED' ? 'stopped' : 'running';
    const { status, snapshot } = await waitForTreeStatus(pid, expected, 3000);
    if (status !== expected) {
      throw new AgentError(
        'internal',
        `${what} finished, but the tree of pid ${pid} is ${describeStatus(status, snapshot)} instead of ${want}`,
      );
    }
    return snapshot;
  }

  /**
   * Deletes the oldest checkpoints nothing builds on, beyond the configured
   * count and size; never `justMade` nor one another operation holds.
   */
  async applyRetention(justMade: string): Promise<string[]> {
    const { retainMaxCount: maxCount, retainMaxBytes: maxBytes } = this.deps.config;
    if (!maxCount && !maxBytes) return [];
    const victims = await this.store.retentionVictims({ maxCount, maxBytes }, new Set([justMade]));
    const deleted: string[] = [];
    for (const id of victims) {
      let release: () => void;
      try {
        release = this.locks.acquire([`checkpoint ${id}`], `retention deleting ${id}`);
      } catch {
        continue; // in use: next time
      }
      try {
        await this.store.remove(id);
        deleted.push(id);
      } finally {
        release();
      }
    }
    return deleted;
  }

  /**
   * After a failed or cancelled CRIU run: a tree that was running before must
   * not stay frozen or stopped because of us (CRIU normally resumes it itself,
   * but not when it was killed half-way).
   */
  async resumeIfLeftStopped(pid: number, before: TreeStatus): Promise<void> {
    if (before !== 'running') return;
    const snap = await snapshotTree(pid);
    const status = treeStatus(snap);
    if (snap && (status === 'stopped' || status === 'mixed')) await continueTree(snap);
  }
}

export function describeStatus(status: TreeStatus, snap: TreeSnapshot | null): string {
  if (status === 'gone') return 'gone';
  if (!snap) return status;
  const stopped = snap.processes.filter((p) => p.tasks.some((t) => t.state === 'stopped')).map((p) => p.pid);
  const running = snap.processes.filter((p) => p.tasks.some((t) => t.state === 'running')).map((p) => p.pid);
  if (status === 'mixed') return `partly stopped (stopped: ${stopped.join(', ')}; running: ${running.join(', ')})`;
  return status;
}

/**
 * Operations still running by request id, also after their caller was
 * answered (a cancelled Dump runs on until CRIU is done with the tree).
 */
export class InFlight {
  private readonly running = new Map<string, Promise<unknown>>();

  add(requestId: string, work: Promise<unknown>): void {
    const done = work.then(
      () => undefined,
      () => undefined,
    );
    this.running.set(requestId, done);
    void done.then(() => {
      if (this.running.get(requestId) === done) this.running.delete(requestId);
    });
  }

  /** Resolves once the operation of `requestId` (if any) has ended, whatever its outcome; rejects if `signal` aborts first. */
  async settled(requestId: string, signal?: AbortSignal): Promise<void> {
    const current = this.running.get(requestId);
    if (current) await untilAborted(current, signal);
  }
}

/** A signal that aborts with `parent`, or by its own abort(): what an operation hands CRIU (see CriuRun.cancel). */
export function linkedAbort(parent?: AbortSignal): { signal: AbortSignal; abort: (reason: unknown) => void } {
  const controller = new AbortController();
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener('abort', () => controller.abort(parent.reason), { once: true });
  return { signal: controller.signal, abort: (reason) => controller.abort(reason) };
}

/**
 * Settles like `p`, or rejects with the signal's reason as soon as it aborts.
 * `p` goes on after an abort (a Dump or Restore finishes or rolls back in the
 * background); its later failure is nobody's to handle, and must not become
 * an unhandled rejection, which ends the agent (seen in the soak: a Restore
 * cancelled before its work began took the agent down with it).
 */
export function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** An abort signal's reason, or the error itself. */
export function abortedOr(err: unknown, signal?: AbortSignal): unknown {
  return signal?.aborted ? signal.reason : err;
}

/**
 * Points an error at the log's new place after it was moved, or, when there
 * was no log to keep, drops the mention of a path that no longer exists.
 */
export function withLogMoved(err: unknown, from: string, to: string | undefined): unknown {
  if (!(err instanceof AgentError) || (err.details.criuLog !== from && !err.message.includes(from))) return err;
  const message =
    to === undefined ? err.message.split(`; full log: ${from}`).join('').split(from).join('(no log)') : err.message.split(from).join(to);
  return new AgentError(err.kind, message, { cause: err.cause, details: { ...err.details, criuLog: to } });
}
