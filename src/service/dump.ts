import * as path from 'node:path';
import type { DumpOptions__Output } from '../generated/criu_agent/v1/DumpOptions';
import { AgentError } from '../errors';
import { resolveFinalState, type FinalState, type Operation, type RequestedState } from '../finalState';
import { snapshotTree, treeStatus } from '../proctree';
import { validateCheckpointId } from '../store';
import { abortedOr, withLogMoved, type ServiceContext } from './context';
import { guardTarget, guardTree, requireLiveProcess } from './guards';
import { dumpCriuOpts } from './options';

export interface DumpParams {
  pid: number;
  checkpointId: string;
  requested: RequestedState;
  parentId: string;
  options: Partial<DumpOptions__Output>;
}

export interface DumpResult {
  checkpointId: string;
  finalState: FinalState;
  finalStateIgnored: boolean;
  imagesDir: string;
  pids: number[];
  logPath: string;
}

const LOG_FILE = { dump: 'dump.log', 'pre-dump': 'pre-dump.log' } as const;

/** Dump and PreDump: checkpoint a live tree into a new checkpoint directory. */
export class DumpService {
  constructor(private readonly ctx: ServiceContext) {}

  dump(p: DumpParams, signal?: AbortSignal): Promise<DumpResult> {
    return this.checkpoint('dump', p, signal);
  }

  preDump(p: DumpParams, signal?: AbortSignal): Promise<DumpResult> {
    return this.checkpoint('pre-dump', p, signal);
  }

  private async checkpoint(op: Extract<Operation, 'dump' | 'pre-dump'>, p: DumpParams, signal?: AbortSignal): Promise<DumpResult> {
    const decision = resolveFinalState(op, p.requested);
    if (!decision.ok) throw new AgentError('invalid-argument', decision.reason);
    validateCheckpointId(p.checkpointId);
    if (p.parentId) validateCheckpointId(p.parentId, 'parent_checkpoint_id');
    await guardTarget(p.pid);

    const release = this.ctx.locks.acquire([`pid ${p.pid}`, `checkpoint ${p.checkpointId}`], `${op} of pid ${p.pid} into ${p.checkpointId}`);
    try {
      await requireLiveProcess(p.pid);
      const parent = p.parentId ? await this.requireParent(p.parentId) : undefined;
      if (op === 'pre-dump') await this.requireMemoryTracking(signal);

      const before = await snapshotTree(p.pid);
      if (!before) throw new AgentError('not-found', `no process with pid ${p.pid} on this node`);
      guardTree(before);
      const statusBefore = treeStatus(before);
      const version = await this.ctx.version(signal);

      const pending = await this.ctx.store.create(p.checkpointId);
      const logFile = LOG_FILE[op];
      const opts = {
        ...dumpCriuOpts(p.options),
        pid: p.pid,
        log_level: this.ctx.deps.config.criuLogLevel,
        notify_scripts: true,
        ...(decision.applied === 'RUNNING' && op === 'dump' ? { leave_running: true } : {}),
        ...(decision.applied === 'STOPPED' ? { leave_stopped: true } : {}),
        // Pre-dumps track memory so the next round writes only what changed.
        ...(op === 'pre-dump' ? { track_mem: true } : {}),
        ...(parent ? { parent_img: `../${parent}` } : {}),
      };
      try {
        if (op === 'pre-dump') await this.ctx.criu.preDump({ imagesDir: pending.dir, logFile, opts, signal });
        else await this.ctx.criu.dump({ imagesDir: pending.dir, logFile, opts, signal });
      } catch (err) {
        const kept = await pending.discard(logFile);
        await this.ctx.resumeIfLeftStopped(p.pid, statusBefore);
        throw withLogMoved(abortedOr(err, signal), path.join(pending.dir, logFile), kept);
      }

      // The images are complete whatever /proc says now, so they are kept
      // (and the error below says so) rather than thrown away.
      const finalDir = await pending.commit({
        id: p.checkpointId,
        kind: op,
        parentId: parent,
        pid: p.pid,
        pids: before.processes.map((proc) => proc.pid),
        createdAt: new Date().toISOString(),
        criuVersion: version.text,
        kernel: this.ctx.kernel,
        finalState: decision.applied,
        logFile,
      });
      await this.ctx.verifyFinalState(p.pid, decision.applied, `${op} into checkpoint ${p.checkpointId} (kept at ${finalDir})`);
      return {
        checkpointId: p.checkpointId,
        finalState: decision.applied,
        finalStateIgnored: decision.ignored,
        imagesDir: finalDir,
        pids: before.processes.map((proc) => proc.pid),
        logPath: path.join(finalDir, logFile),
      };
    } finally {
      release();
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
}
