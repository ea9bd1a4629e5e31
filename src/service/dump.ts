import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { DumpOptions__Output } from '../generated/criu_agent/v1/DumpOptions';
import { readDumpStats, type DumpStats } from '../criu/stats';
import { AgentError } from '../errors';
import { resolveFinalState, type FinalState, type Operation, type RequestedState } from '../finalState';
import { estimateMemoryBytes, readCommandLine, readStartTime, snapshotTree, treeStatus } from '../proctree';
import { RECORD_FILE, validateCheckpointId } from '../store';
import { DIGEST_ALGORITHM, digestDirectory } from '../store/digest';
import { abortedOr, withLogMoved, type ServiceContext } from './context';
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
}

/** dump[-<request id>].log: the request id ties CRIU's log to the agent's log lines of the call. */
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

    const release = this.ctx.locks.acquire(
      [`pid ${p.pid}`, `checkpoint ${p.checkpointId}`, ...(p.parentId ? [`checkpoint ${p.parentId}`] : [])],
      `${op} of pid ${p.pid} into ${p.checkpointId}${requestId ? ` (request ${requestId})` : ''}`,
    );
    try {
      await requireLiveProcess(p.pid);
      const parent = p.parentId ? await this.requireParent(p.parentId) : undefined;
      if (op === 'pre-dump') await this.requireMemoryTracking(signal);
      // store.create checks again (a race is possible); this one answers
      // before the call waits for a CRIU slot.
      if (await this.ctx.store.get(p.checkpointId)) {
        throw new AgentError('already-exists', `checkpoint ${p.checkpointId} already exists; choose another checkpoint_id`);
      }

      const slot = await this.ctx.limiter.acquire(signal);
      try {
        return await this.run(op, p, decision.applied, decision.ignored, parent, signal, requestId);
      } finally {
        slot();
      }
    } finally {
      release();
    }
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
    await this.requireSpace(p.pid, await estimateMemoryBytes(before));
    const version = await this.ctx.version(signal);
    const commandLine = await readCommandLine(p.pid);
    const startTime = await readStartTime(p.pid);

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
    let files: Awaited<ReturnType<typeof digestDirectory>>;
    try {
      if (op === 'pre-dump') await this.ctx.criu.preDump({ imagesDir: pending.dir, logFile, opts, signal });
      else await this.ctx.criu.dump({ imagesDir: pending.dir, logFile, opts, signal });
      // After CRIU returned the tree is no longer frozen: hashing the images
      // costs the caller time, never the workload.
      stats = await readDumpStats(pending.dir);
      files = await digestDirectory(pending.dir, { exclude: [logFile, RECORD_FILE] });
    } catch (err) {
      const kept = await pending.discard(logFile, requestId);
      await this.ctx.resumeIfLeftStopped(p.pid, statusBefore);
      throw withLogMoved(abortedOr(err, signal), path.join(pending.dir, logFile), kept);
    }

    const pids = before.processes.map((proc) => proc.pid);
    const sizeBytes = files.reduce((n, f) => n + f.size, 0);
    // The images are complete whatever /proc says now, so they are kept (and
    // the verification error below says so) rather than thrown away.
    const finalDir = await pending.commit({
      id: p.checkpointId,
      kind: op,
      parentId: parent,
      pid: p.pid,
      pids,
      commandLine,
      createdAt: new Date().toISOString(),
      criuVersion: version.text,
      kernel: this.ctx.kernel,
      finalState: applied,
      logFile,
      ...(requestId ? { requestId } : {}),
      sizeBytes,
      fileCount: files.length,
      stats,
      digestAlgorithm: DIGEST_ALGORITHM,
      files,
    });
    if (applied === 'STOPPED' && startTime !== null) {
      await this.ctx.stopped.add({ pid: p.pid, startTime, by: `${op} into checkpoint ${p.checkpointId}`, since: new Date().toISOString() });
    }
    await this.ctx.verifyFinalState(p.pid, applied, `${op} into checkpoint ${p.checkpointId} (kept at ${finalDir})`);
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
    };
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

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
