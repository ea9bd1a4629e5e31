import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { DumpOptions__Output } from '../generated/criu_agent/v1/DumpOptions';
import { readDumpStats, type DumpStats } from '../criu/stats';
import { AgentError, errorMessage } from '../errors';
import { resolveFinalState, type FinalState, type Operation, type RequestedState } from '../finalState';
import {
  continueTree,
  estimateMemoryBytes,
  isZombieProcess,
  readCommandLine,
  readProcess,
  readStartTime,
  signalTree,
  snapshotTree,
  treeStatus,
} from '../proctree';
import { RECORD_FILE, validateCheckpointId, type CheckpointRecord } from '../store';
import { DIGEST_ALGORITHM, digestDirectory, type FileDigest } from '../store/digest';
import { abortedOr, linkedAbort, untilAborted, withLogMoved, type ServiceContext } from './context';
import type { GpuDump, GpuProcessReport } from './gpu';
import { guardTarget, guardTree, requireLiveProcess } from './guards';
import { dumpCriuOpts } from './options';

export interface DumpParams {
  pid: number;
  checkpointId: string;
  requested: RequestedState;
  parentId: string;
  options: Partial<DumpOptions__Output>;
  /** Send the pages to this CRIU page server instead of writing them (Migrate). */
  pageServer?: { address: string; port: number };
}

export interface DumpResult {
  checkpointId: string;
  finalState: FinalState;
  finalStateIgnored: boolean;
  imagesDir: string;
  pids: number[];
  logPath: string;
  stats?: DumpStats;
  sizeBytes: number;
  /** What the GPU steps did per process (empty for a CPU tree). */
  gpu: GpuProcessReport[];
}

/** dump-<request id>.log (pre-dump-...): the request id ties CRIU's log to the agent's log lines of the call. */
function logFileName(op: 'dump' | 'pre-dump', requestId?: string): string {
  return requestId ? `${op}-${requestId}.log` : `${op}.log`;
}

/** Room left on top of the memory estimate: CRIU's own images (fds, mm, pstree, ...) and the log. */
const SPACE_MARGIN_BYTES = 32 * 1024 * 1024;

/** Dump and PreDump: checkpoint a live tree into a new checkpoint directory. */
export class DumpService {
  constructor(private readonly ctx: ServiceContext) {}

  dump(p: DumpParams, signal?: AbortSignal, requestId?: string): Promise<DumpResult> {
    return this.checkpoint('dump', p, signal, requestId);
  }

  preDump(p: DumpParams, signal?: AbortSignal, requestId?: string): Promise<DumpResult> {
    return this.checkpoint('pre-dump', p, signal, requestId);
  }

  private async checkpoint(
    op: Extract<Operation, 'dump' | 'pre-dump'>,
    p: DumpParams,
    signal?: AbortSignal,
    requestId?: string,
  ): Promise<DumpResult> {
    const decision = resolveFinalState(op, p.requested);
    if (!decision.ok) throw new AgentError('invalid-argument', decision.reason);
    validateCheckpointId(p.checkpointId);
    if (p.parentId) validateCheckpointId(p.parentId, 'parent_checkpoint_id');
    if (p.parentId === p.checkpointId)
      throw new AgentError('invalid-argument', 'parent_checkpoint_id must name another checkpoint than checkpoint_id');
    await guardTarget(p.pid, this.ctx.targetRules);
    // A CRIU of the earlier run may still hold this tree.
    await this.ctx.recovered(signal);

    // A retry of a call whose client gave up waits for the first to end, then
    // gets its checkpoint (below) or runs anew if the first left none.
    if (requestId) await this.ctx.inFlight.settled(requestId, signal);
    const release = this.ctx.locks.acquire(
      [`pid ${p.pid}`, `checkpoint ${p.checkpointId}`, ...(p.parentId ? [`checkpoint ${p.parentId}`] : [])],
      `${op} of pid ${p.pid} into ${p.checkpointId}${requestId ? ` (request ${requestId})` : ''}`,
    );
    // The work goes on after a cancel until CRIU is done with the tree (it
    // is stopped at its next safe point, see criu/client.ts), holding the
    // tree's lock and CRIU's slot; the caller is answered at once.
    const work = (async (): Promise<DumpResult> => {
      try {
        // store.create checks again (a race is possible); this one answers
        // before the call waits for a CRIU slot, and before the tree is
        // looked at: a retry finds the checkpoint also when the Dump killed it.
        const existing = await this.ctx.store.get(p.checkpointId);
        if (existing) {
          if (requestId && existing.requestId === requestId && existing.kind === op && existing.pid === p.pid) {
            return this.replayed(existing, decision.ignored);
          }
          throw new AgentError('already-exists', `checkpoint ${p.checkpointId} already exists; choose another checkpoint_id`);
        }
        await requireLiveProcess(p.pid);
        const parent = p.parentId ? await this.requireParent(p.parentId) : undefined;
        if (op === 'pre-dump') await this.requireMemoryTracking(signal);

        const slot = await this.ctx.limiter.acquire(signal);
        try {
          return await this.run(op, p, decision.applied, decision.ignored, parent, signal, requestId);
        } finally {
          slot();
        }
      } finally {
        release();
      }
    })();
    if (requestId) this.ctx.inFlight.add(requestId, work);
    return untilAborted(work, signal);
  }

  /**
   * The result of the call that made `record`, for a retry with the same
   * request id (x-request-id): a client that gave up (deadline, lost
   * connection) learns that its Dump completed after all.
   */
  private replayed(record: CheckpointRecord, ignored: boolean): DumpResult {
    const dir = this.ctx.store.pathOf(record.id);
    return {
      checkpointId: record.id,
      finalState: record.finalState,
      finalStateIgnored: ignored,
      imagesDir: dir,
      pids: record.pids,
      logPath: path.join(dir, record.logFile),
      stats: record.stats,
      sizeBytes: record.sizeBytes,
      gpu: record.gpu ?? [],
    };
  }

  private async run(
    op: Extract<Operation, 'dump' | 'pre-dump'>,
    p: DumpParams,
    applied: FinalState,
    ignored: boolean,
    parent: string | undefined,
    signal?: AbortSignal,
    requestId?: string,
  ): Promise<DumpResult> {
    const before = await snapshotTree(p.pid);
    if (!before) throw new AgentError('not-found', `no process with pid ${p.pid} on this node`);
    guardTree(before);
    const statusBefore = treeStatus(before);
    // Pages sent to a page server (Migrate) take no room here.
    await this.requireSpace(p.pid, p.pageServer ? 0 : await estimateMemoryBytes(before));
    const version = await this.ctx.version(signal);
    const commandLine = await readCommandLine(p.pid);
    const startTime = await readStartTime(p.pid);
    // Who the tree's processes are (pid and start time), for a DEAD dump whose CRIU dies while it kills them.
    const treeStarts = await Promise.all(before.processes.map(async (proc) => ({ pid: proc.pid, start: await readStartTime(proc.pid) })));

    const pending = await this.ctx.store.create(p.checkpointId);
    const logFile = logFileName(op, requestId);
    const opts = {
      ...dumpCriuOpts(p.options),
      pid: p.pid,
      log_level: this.ctx.deps.config.criuLogLevel,
      notify_scripts: true,
      ...(applied === 'RUNNING' && op === 'dump' ? { leave_running: true } : {}),
      ...(applied === 'STOPPED' ? { leave_stopped: true } : {}),
      // Pre-dumps track memory so the next round writes only what changed.
      ...(op === 'pre-dump' ? { track_mem: true } : {}),
      // CRIU reuses a parent's pages only with memory tracking on (criu/mem.c:
      // track_mem && img_parent); without it an incremental dump rewrites all.
      ...(parent ? { parent_img: `../${parent}`, track_mem: true } : {}),
      ...(p.pageServer ? { ps: p.pageServer } : {}),
    };
    let stats: DumpStats | undefined;
    let files: FileDigest[] = [];
    const pids = before.processes.map((proc) => proc.pid);
    let createdAt: string | undefined;
    const record = (digests: FileDigest[], dumpStats: DumpStats | undefined, gpuReport: GpuProcessReport[]): CheckpointRecord => ({
      id: p.checkpointId,
      kind: op,
      parentId: parent,
      pid: p.pid,
      pids,
      commandLine,
      // When it was first written: a record rewritten with CRIU's statistics keeps it.
      createdAt: (createdAt ??= new Date().toISOString()),
      criuVersion: version.text,
      kernel: this.ctx.kernel,
      finalState: applied,
      logFile,
      ...(requestId ? { requestId } : {}),
      sizeBytes: digests.reduce((n, f) => n + f.size, 0),
      fileCount: digests.length,
      stats: dumpStats,
      digestAlgorithm: DIGEST_ALGORITHM,
      files: digests,
      ...(gpuReport.length > 0 ? { gpu: gpuReport } : {}),
    });
    // A DEAD dump's tree is killed, a STOPPED one's stopped, as soon as
    // post-dump is answered: the checkpoint is made complete and listed
    // before that (CRIU's images are all written then), so that a full disk
    // makes CRIU resume the tree instead, and a crash of the agent afterwards
    // leaves the checkpoint (never a tree stopped with nothing to show for
    // it). Digesting then costs a STOPPED tree nothing: it does not run on
    // either way. A RUNNING dump's digests wait until the tree runs again.
    let early: { dir: string; files: FileDigest[] } | undefined;
    const cancel = linkedAbort(signal);
    // GPU (./gpu.ts): Lock + Checkpoint before CRIU freezes the tree.
    let gpu: GpuDump | null = null;
    try {
      const treePids = before.processes.map((proc) => proc.pid);
      if (op === 'pre-dump') await this.ctx.gpu.refusePreDump(treePids);
      else gpu = await this.ctx.gpu.beforeDump(treePids);
      const stoppedBy = `${op} into checkpoint ${p.checkpointId}`;
      const atCommit =
        op === 'dump' && applied !== 'RUNNING'
          ? async (): Promise<void> => {
              const digests = await digestDirectory(pending.dir, { exclude: [logFile, RECORD_FILE] });
              const dir = await pending.commit(record(digests, undefined, gpu?.report() ?? []));
              if (applied === 'STOPPED' && startTime !== null) {
                try {
                  await this.ctx.stopped.add({ pid: p.pid, startTime, by: stoppedBy, since: new Date().toISOString() });
                } catch (err) {
                  // CRIU resumes the tree on this failure: its checkpoint goes too.
                  await this.ctx.store.remove(p.checkpointId);
                  throw err;
                }
              }
              early = { dir, files: digests };
            }
          : undefined;
      const treeGone = async (): Promise<boolean> => (await goneOf(treePids)).length === treePids.length;
      const run = { imagesDir: pending.dir, logFile, opts, signal: cancel.signal, cancel: cancel.abort, atCommit, treeGone };
      if (op === 'pre-dump') await this.ctx.criu.preDump(run);
      else await this.ctx.criu.dump(run);
      if (!early) {
        // After CRIU returned the tree is no longer frozen: hashing the images
        // costs the caller time, never the workload.
        // CRIU writes its statistics best effort (an empty file on a full
        // disk): without them the checkpoint is as good.
        stats = await readDumpStats(pending.dir).catch(() => undefined);
        files = await digestDirectory(pending.dir, { exclude: [logFile, RECORD_FILE] });
      }
    } catch (err) {
      if (!early) {
        const kept = await pending.discard(logFile);
        await this.ctx.resumeIfLeftStopped(p.pid, statusBefore);
        // GPU: the tree runs again; give every process its GPU state back.
        const gpuLeft = gpu ? await gpu.abort() : [];
        const failure = withLogMoved(abortedOr(err, cancel.signal), path.join(pending.dir, logFile), kept);
        if (gpuLeft.length > 0 && failure instanceof Error)
          failure.message += `; giving the GPU state back also failed: ${gpuLeft.join('; ')}`;
        const lost = await goneOf(before.processes.filter((proc) => !isZombieProcess(proc)).map((proc) => proc.pid));
        // The caller must not take "the tree runs on" for granted here.
        if (lost.length > 0 && failure instanceof Error) {
          failure.message +=
            `; ${lost.length === 1 ? 'process' : 'processes'} ${lost.join(', ')} of the tree did not survive ` +
            '(a CRIU killed while its parasite code runs inside a task takes that task with it; a process may also have exited or been killed from outside)';
        }
        throw failure;
      }
      // CRIU failed after the checkpoint was made: the agent applies the final state itself.
      await this.finishAfterCommit(err, p, applied, startTime, treeStarts, early.dir, logFile);
    }
    if (early) {
      // CRIU writes stats-dump after post-dump: its figures go into the
      // record below, the file itself stays unlisted (Restore ignores it when
      // the manifest does not list it, as after a crash of the agent here).
      files = early.files;
      stats = await readDumpStats(early.dir).catch(() => undefined);
    }
    // GPU: by final state (DEAD nothing, RUNNING Restore + Unlock, STOPPED
    // parked for Continue); the images are complete either way.
    let gpuFailure: Error | undefined;
    let gpuReport: GpuProcessReport[] = [];
    if (gpu) {
      try {
        gpuReport = await gpu.afterDump(applied);
      } catch (err) {
        gpuFailure = err instanceof Error ? err : new Error(String(err));
        gpuReport = gpu.report();
      }
    }

    const made = record(files, stats, gpuReport);
    const sizeBytes = made.sizeBytes;
    // The images are complete whatever /proc says now, so they are kept (and
    // the verification error below says so) rather than thrown away.
    let finalDir: string;
    if (early) {
      finalDir = early.dir;
      // Best effort: when it cannot be rewritten (a full disk), the early
      // record stands, complete but without statistics (or the GPU steps
      // after the dump).
      if (stats || gpu) await this.ctx.store.rewriteRecord(made).catch(() => undefined);
    } else {
      try {
        finalDir = await pending.commit(made);
      } catch (err) {
        // The tree was left running (a STOPPED dump commits early, above): nothing is lost but this checkpoint.
        const kept = await pending.discard(logFile);
        await this.ctx.resumeIfLeftStopped(p.pid, statusBefore);
        throw withLogMoved(err, path.join(pending.dir, logFile), kept);
      }
    }
    if (gpuFailure !== undefined) throw gpuFailure;
    try {
      await this.ctx.verifyFinalState(p.pid, applied, `${op} into checkpoint ${p.checkpointId}`);
    } catch (err) {
      if (!(err instanceof AgentError)) throw err;
      // CRIU reported success, so the images are complete: whatever changed
      // the tree afterwards (it exited, or something else killed, stopped or
      // continued it) came from outside the agent. The checkpoint stays
      // listed; the caller learns both facts, with a status it can act on.
      throw new AgentError(
        'aborted',
        `${err.message}: something outside the agent changed the tree (it exited, or was killed or signalled) during the ${op}; ` +
          `checkpoint ${p.checkpointId} is complete and kept at ${finalDir} (restore it, or delete it with DeleteCheckpoint)`,
        { cause: err, details: { criuLog: path.join(finalDir, logFile) } },
      );
    }
    await this.ctx.applyRetention(p.checkpointId);
    return {
      checkpointId: p.checkpointId,
      finalState: applied,
      finalStateIgnored: ignored,
      imagesDir: finalDir,
      pids,
      logPath: path.join(finalDir, logFile),
      stats,
      sizeBytes,
      gpu: gpuReport,
    };
  }

  /**
   * CRIU died after the agent had made the checkpoint and answered post-dump
   * (only something outside the agent kills it then: a cancel after the
   * commit is kept, see criu/client.ts). Once post-dump is answered the dump
   * stands, as it does when the agent itself crashes there; CRIU would have
   * killed (DEAD) or stopped (STOPPED) the tree next, so the agent does, and
   * the call succeeds: a caller never finds a complete checkpoint listed by
   * a Dump that failed. Only when that cannot be done does it fail, with
   * the tree running.
   */
  private async finishAfterCommit(
    err: unknown,
    p: DumpParams,
    applied: FinalState,
    startTime: number | null,
    treeStarts: readonly { pid: number; start: number | null }[],
    dir: string,
    logFile: string,
  ): Promise<void> {
    // The same tree, not a process that took its pid after it died.
    if (startTime !== null && (await readStartTime(p.pid)) === startTime) {
      // Stopped first, so that no process forks past the snapshot that is killed.
      const running = await snapshotTree(p.pid);
      if (running) await signalTree(running, 'SIGSTOP');
      const stopped = await snapshotTree(p.pid);
      if (stopped && applied === 'DEAD') await signalTree(stopped, 'SIGKILL');
    }
    if (applied === 'DEAD') {
      // CRIU may have died while it killed the tree itself, the root first:
      // the children, orphaned, are no longer in the root's tree (seen in CI:
      // one ran on after a DEAD Dump that answered OK). Every process of the
      // dumped tree that is still the same process goes too.
      for (const { pid, start } of treeStarts) {
        if (start === null || (await readStartTime(pid)) !== start) continue;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    try {
      await this.ctx.verifyFinalState(p.pid, applied, `dump into checkpoint ${p.checkpointId}`);
    } catch (failure) {
      const snap = await snapshotTree(p.pid);
      if (snap) await continueTree(snap);
      throw new AgentError(
        'aborted',
        `CRIU failed after checkpoint ${p.checkpointId} was complete (${errorMessage(err)}), and the tree of pid ${p.pid} could not be left ${applied} ` +
          `(${errorMessage(failure)}): it runs on; the checkpoint is kept at ${dir} (restore it elsewhere, or delete it with DeleteCheckpoint)`,
        { cause: err, details: { criuLog: path.join(dir, logFile) } },
      );
    }
  }

  private async requireParent(parentId: string): Promise<string> {
    const parent = await this.ctx.store.get(parentId);
    if (!parent) throw new AgentError('not-found', `parent checkpoint ${parentId} does not exist`);
    if (parent.kind !== 'pre-dump') {
      throw new AgentError('failed-precondition', `parent checkpoint ${parentId} is a ${parent.kind}; only a PreDump can be built on`);
    }
    return parentId;
  }

  private async requireMemoryTracking(signal?: AbortSignal): Promise<void> {
    const features = await this.ctx.features(signal);
    if (!features.memTrack) {
      throw new AgentError(
        'failed-precondition',
        `PreDump needs kernel memory tracking (soft-dirty page bits, CONFIG_MEM_SOFT_DIRTY), which this node's kernel ${this.ctx.kernel} ` +
          'does not provide (CRIU FEATURE_CHECK: mem_track=false); use Dump without a parent instead, or a kernel built with CONFIG_MEM_SOFT_DIRTY=y',
      );
    }
  }

  /** RESOURCE_EXHAUSTED before CRIU starts when the tree's memory cannot fit in the state directory. */
  private async requireSpace(pid: number, estimate: number): Promise<void> {
    const fs = await fsp.statfs(this.ctx.store.checkpointsDir);
    const free = fs.bavail * fs.bsize;
    const need = estimate + SPACE_MARGIN_BYTES;
    if (need > free) {
      throw new AgentError(
        'resource-exhausted',
        `not enough space for a checkpoint of pid ${pid}: its memory is about ${mib(estimate)} MiB (plus ${mib(SPACE_MARGIN_BYTES)} MiB for CRIU's other images), ` +
          `but ${this.ctx.store.checkpointsDir} has ${mib(free)} MiB free; free some space (DeleteCheckpoint) or use a larger state directory`,
      );
    }
  }
}

/** The pids of `pids` that are gone or zombies. */
async function goneOf(pids: readonly number[]): Promise<number[]> {
  const gone: number[] = [];
  for (const pid of pids) {
    const now = await readProcess(pid);
    if (!now || isZombieProcess(now)) gone.push(pid);
  }
  return gone;
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
