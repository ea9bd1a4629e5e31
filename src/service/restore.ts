import * as path from 'node:path';
import type { RestoreOptions__Output } from '../generated/criu_agent/v1/RestoreOptions';
import { AgentError } from '../errors';
import { resolveFinalState, type FinalState, type RequestedState } from '../finalState';
import { readRestoreStats, type RestoreStats } from '../criu/stats';
import { bootTicksNow, isZombieProcess, killProcessesSince, readProcess, readStartTime, snapshotTree, waitForPidFree } from '../proctree';
import { unlistedFiles, type CheckpointRecord } from '../store';
import { verifyDirectoryDeferring, type DeferredHashes } from '../store/digest';
import { validateCheckpointId } from '../store';
import { linkedAbort, untilAborted, type ServiceContext } from './context';
import type { GpuProcessReport } from './gpu';
import { restoreCriuOpts } from './options';

export interface RestoreParams {
  checkpointId: string;
  requested: RequestedState;
  options: Partial<RestoreOptions__Output>;
}

export interface RestoreResult {
  stats?: RestoreStats;
  pid: number;
  finalState: FinalState;
  checkpointId: string;
  pids: number[];
  logPath: string;
  /** GPU processes given their GPU state back (empty for CPU trees and for STOPPED, where Continue does it). */
  gpu: GpuProcessReport[];
}

/**
 * restore-<request id>.log, like every CRIU log (dump-<request id>.log,
 * pre-dump-<request id>.log): the request id ties it to the agent's log
 * lines of the call. Restore logs are kept with the checkpoint but are not
 * part of its manifest (store's unlistedFiles; older agents named them
 * restore-<time>-<id>.log).
 */
function restoreLogName(requestId?: string): string {
  return requestId ? `restore-${requestId}.log` : 'restore.log';
}

/** Restore: recreate a dumped tree with its original pids. */
export class RestoreService {
  constructor(private readonly ctx: ServiceContext) {}

  async restore(p: RestoreParams, signal?: AbortSignal, requestId?: string): Promise<RestoreResult> {
    const decision = resolveFinalState('restore', p.requested);
    if (!decision.ok) throw new AgentError('invalid-argument', decision.reason);
    validateCheckpointId(p.checkpointId);
    // An interrupted restore of the earlier run may still hold this checkpoint's pids.
    await this.ctx.recovered(signal);

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
      `restore of checkpoint ${p.checkpointId} (pid ${record.pid}${requestId ? `, request ${requestId}` : ''})`,
    );
    // As for Dump: after a cancel the caller is answered at once, while the
    // work goes on until CRIU has let go and nothing half-restored is left.
    const work = (async (): Promise<RestoreResult> => {
      let pages: ChainPages[] = [];
      try {
        pages = await this.verifyChain(record);
        // GPU: a checkpoint with GPU state needs the driver's API here too.
        if (record.gpu?.length)
          this.ctx.gpu.requireApi(`restoring checkpoint ${p.checkpointId} (GPU processes ${record.gpu.map((g) => g.pid).join(', ')})`);
        await this.requirePidsFree(record.pids, p.checkpointId);
        const slot = await this.ctx.limiter.acquire(signal);
        try {
          return await this.run(p, record, decision.applied, pages, signal, requestId);
        } finally {
          slot();
        }
      } finally {
        await Promise.all(pages.map((d) => d.hashes.close()));
        release();
      }
    })();
    return untilAborted(work, signal);
  }

  private async run(
    p: RestoreParams,
    record: CheckpointRecord,
    applied: FinalState,
    pages: ChainPages[],
    signal?: AbortSignal,
    requestId?: string,
  ): Promise<RestoreResult> {
    const imagesDir = this.ctx.store.pathOf(p.checkpointId);
    const logFile = restoreLogName(requestId);
    const opts = {
      ...restoreCriuOpts(p.options),
      log_level: this.ctx.deps.config.criuLogLevel,
      notify_scripts: true,
      ...(applied === 'STOPPED' ? { leave_stopped: true } : {}),
    };
    // Recorded first, so that a start of the agent after it died mid-restore
    // finds and kills what this restore created.
    const sinceTicks = await bootTicksNow();
    const forget = await this.ctx.restoring.add({
      checkpointId: p.checkpointId,
      pids: record.pids,
      sinceTicks,
      ...(requestId ? { requestId } : {}),
      startedAt: new Date().toISOString(),
    });
    const cancel = linkedAbort(signal);
    // The page images are hashed while CRIU restores from them, and CRIU's
    // post-restore (the 'commit' notification: every task rebuilt, none
    // resumed) is answered only once they all matched; a mismatch makes CRIU
    // kill the tree before any of it ran (cr-restore.c, out_kill).
    const hashing = verifyPages(record.id, pages);
    hashing.catch(() => undefined); // awaited at the commit, or below on failure
    let gated = false;
    const atCommit = async (): Promise<void> => {
      await hashing;
      gated = true;
    };
    let pid: number;
    try {
      try {
        ({ pid } = await this.ctx.criu.restore({ imagesDir, logFile, opts, signal: cancel.signal, cancel: cancel.abort, atCommit }));
      } catch (err) {
        await killProcessesSince(record.pids, sinceTicks);
        if (cancel.signal.aborted) throw cancel.signal.reason;
        // CRIU may fail on the damage itself before post-restore: the damage is the cause to report.
        const damage: unknown = await hashing.then(
          () => undefined,
          (e: unknown) => e,
        );
        throw damage instanceof AgentError && damage.kind === 'data-loss' ? damage : err;
      }
      if (!gated) {
        // The gate is what keeps damaged pages from running: a restore that
        // never passed it (no post-restore notification) is not trusted.
        const tree = await snapshotTree(pid);
        await killProcessesSince([...new Set([...record.pids, ...(tree?.processes.map((t) => t.pid) ?? [])])], sinceTicks);
        throw new AgentError(
          'internal',
          `CRIU finished the restore of checkpoint ${p.checkpointId} without its post-restore notification, so its page images were not verified; the tree was killed`,
        );
      }
      if (cancel.signal.aborted) {
        // Cancelled after CRIU's last point of return: the restore completed,
        // but its caller was told it was cancelled, and a retry needs the pids
        // free. A cancelled Restore leaves no task behind.
        const tree = await snapshotTree(pid);
        await killProcessesSince([...new Set([...record.pids, ...(tree?.processes.map((t) => t.pid) ?? [])])], sinceTicks);
        throw cancel.signal.reason;
      }
    } finally {
      await forget();
    }
    // GPU: CRIU restored the tree running, its GPU state still in host
    // memory; Restore + Unlock before it is reported RUNNING. A tree that
    // cannot get its GPU state back is killed: the checkpoint is intact and
    // a retry needs the pids. STOPPED leaves it parked for Continue.
    let gpu: GpuProcessReport[] = [];
    if (record.gpu?.length && applied === 'RUNNING') {
      try {
        gpu = await this.ctx.gpu.resumeParked(record.pids);
      } catch (err) {
        await killProcessesSince(record.pids, sinceTicks);
        throw err;
      }
    }
    const snap = await this.ctx.verifyFinalState(pid, applied, `restore of checkpoint ${p.checkpointId}`);
    if (applied === 'STOPPED') {
      const startTime = await readStartTime(pid);
      if (startTime !== null) {
        await this.ctx.stopped.add({ pid, startTime, by: `restore of checkpoint ${p.checkpointId}`, since: new Date().toISOString() });
      }
    }
    return {
      pid,
      finalState: applied,
      checkpointId: p.checkpointId,
      pids: snap?.processes.map((proc) => proc.pid) ?? [pid],
      logPath: path.join(imagesDir, logFile),
      stats: await readRestoreStats(imagesDir).catch(() => undefined),
      gpu,
    };
  }

  /**
   * Checks every file of the checkpoint and of the pre-dumps it builds on
   * against the manifests before CRIU reads any of them: CRIU would restore
   * whatever bytes it finds. The page images are only opened and sized here:
   * they are hashed while CRIU restores (see run), which gates the tree on
   * them; every other image is hashed now, as CRIU parses them to build it.
   * The caller closes what it returns.
   */
  private async verifyChain(record: CheckpointRecord): Promise<ChainPages[]> {
    const out: ChainPages[] = [];
    try {
      let current: CheckpointRecord | null = record;
      const seen = new Set<string>();
      while (current) {
        if (seen.has(current.id)) throw new AgentError('data-loss', `checkpoint ${record.id}: its parents form a cycle at ${current.id}`);
        seen.add(current.id);
        const dir = this.ctx.store.pathOf(current.id);
        const exclude = await unlistedFiles(dir, current);
        try {
          out.push({ id: current.id, hashes: await verifyDirectoryDeferring(dir, current.files, { exclude, defer: isPagesImage }) });
        } catch (err) {
          throw inParent(err, current.id, record.id);
        }
        if (!current.parentId) break;
        const parentId: string = current.parentId;
        current = await this.ctx.store.get(parentId);
        if (!current) throw new AgentError('data-loss', `checkpoint ${record.id} builds on ${parentId}, which is missing`);
      }
      return out;
    } catch (err) {
      await Promise.all(out.map((d) => d.hashes.close()));
      throw err;
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
      const zombie = isZombieProcess(holder);
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

/** The page images of one checkpoint of a restore's chain, opened and sized, not yet hashed. */
interface ChainPages {
  id: string;
  hashes: DeferredHashes;
}

/**
 * CRIU's page images (pages-<n>.img): the bulk of a checkpoint, which CRIU
 * copies into the tasks' memory and never parses, so that they can be
 * verified while it restores.
 */
function isPagesImage(relPath: string): boolean {
  return /^pages-\d+\.img$/.test(relPath);
}

/** Hashes the deferred page images of the chain, one checkpoint after another. */
async function verifyPages(restoredId: string, pages: ChainPages[]): Promise<void> {
  for (const d of pages) {
    try {
      await d.hashes.verify();
    } catch (err) {
      throw inParent(err, d.id, restoredId);
    }
  }
}

/** A parent's verification error names the parent and the checkpoint restored. */
function inParent(err: unknown, id: string, restoredId: string): unknown {
  if (err instanceof AgentError && err.kind === 'data-loss' && id !== restoredId) {
    return new AgentError('data-loss', `parent checkpoint ${id} of ${restoredId}: ${err.message}`, { cause: err });
  }
  return err;
}
