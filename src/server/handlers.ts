import type { CheckpointAgentHandlers } from '../generated/criu_agent/v1/CheckpointAgent';
import type { FinalState__Output } from '../generated/criu_agent/v1/FinalState';
import type { FinalState } from '../finalState';
import type { Logger } from '../log';
import type { DumpStats, RestoreStats } from '../criu/stats';
import type { Checkpoint } from '../generated/criu_agent/v1/Checkpoint';
import type { DumpStats as WireDumpStats } from '../generated/criu_agent/v1/DumpStats';
import type { RestoreStats as WireRestoreStats } from '../generated/criu_agent/v1/RestoreStats';
import type { PreDumpResponse } from '../generated/criu_agent/v1/PreDumpResponse';
import type { GpuProcessStats } from '../generated/criu_agent/v1/GpuProcessStats';
import type { CheckpointInfo, DumpResult, GpuProcessReport, Services } from '../service';
import { unary } from './unary';
import { cascadeOf, checkpointRefOf, continuePidOf, dumpParamsOf, restoreParamsOf } from './validate';

const WIRE: Record<FinalState, FinalState__Output> = {
  RUNNING: 'FINAL_STATE_RUNNING',
  STOPPED: 'FINAL_STATE_STOPPED',
  DEAD: 'FINAL_STATE_DEAD',
};

function dumpStats(s: DumpStats | undefined): WireDumpStats | null {
  if (!s) return null;
  return {
    freezing_time_us: s.freezingTimeUs,
    frozen_time_us: s.frozenTimeUs,
    memdump_time_us: s.memdumpTimeUs,
    memwrite_time_us: s.memwriteTimeUs,
    pages_scanned: s.pagesScanned,
    pages_skipped_parent: s.pagesSkippedParent,
    pages_written: s.pagesWritten,
    pages_lazy: s.pagesLazy,
  };
}

function restoreStats(s: RestoreStats | undefined): WireRestoreStats | null {
  if (!s) return null;
  return {
    pages_compared: s.pagesCompared,
    pages_skipped_cow: s.pagesSkippedCow,
    forking_time_us: s.forkingTimeUs,
    restore_time_us: s.restoreTimeUs,
    pages_restored: s.pagesRestored,
  };
}

/** Milliseconds as the API's whole microseconds. */
const us = (ms: number): number => Math.round(ms * 1000);

function gpuStats(g: GpuProcessReport): GpuProcessStats {
  return {
    pid: g.pid,
    lock_time_us: us(g.lockMs),
    checkpoint_time_us: us(g.checkpointMs),
    restore_time_us: us(g.restoreMs),
    unlock_time_us: us(g.unlockMs),
    checkpoint_bytes: g.checkpointBytes,
  };
}

function checkpoint(c: CheckpointInfo): Checkpoint {
  return {
    checkpoint_id: c.id,
    kind: c.kind === 'dump' ? 'CHECKPOINT_KIND_DUMP' : 'CHECKPOINT_KIND_PRE_DUMP',
    parent_checkpoint_id: c.parentId ?? '',
    pid: c.pid,
    pids: c.pids,
    command_line: c.commandLine,
    created_at: c.createdAt,
    criu_version: c.criuVersion,
    kernel: c.kernel,
    final_state: WIRE[c.finalState],
    size_bytes: c.sizeBytes,
    file_count: c.fileCount,
    stats: dumpStats(c.stats),
    images_dir: c.imagesDir,
    children: c.children,
    digest_algorithm: c.digestAlgorithm,
    request_id: c.requestId ?? '',
  };
}

function dumpResponse(r: DumpResult): PreDumpResponse {
  return {
    checkpoint_id: r.checkpointId,
    final_state: WIRE[r.finalState],
    final_state_ignored: r.finalStateIgnored,
    images_dir: r.imagesDir,
    pids: r.pids,
    log_path: r.logPath,
    stats: dumpStats(r.stats),
    size_bytes: r.sizeBytes,
  };
}

/**
 * Thin handlers: request -> validation (./validate.ts: every field, before any
 * service sees it) -> service call -> response. Nothing else.
 */
export function agentHandlers(services: Services, log: Logger): CheckpointAgentHandlers {
  return {
    Dump: unary(log, 'Dump', async (req, { signal, requestId }) => {
      const { final_state_ignored: _ignored, ...res } = dumpResponse(
        await services.dump.dump(dumpParamsOf(req, 'dump'), signal, requestId),
      );
      return res;
    }),
    PreDump: unary(log, 'PreDump', async (req, { signal, requestId }) =>
      dumpResponse(await services.dump.preDump(dumpParamsOf(req, 'pre-dump'), signal, requestId)),
    ),
    Restore: unary(log, 'Restore', async (req, { signal, requestId }) => {
      const r = await services.restore.restore(restoreParamsOf(req), signal, requestId);
      return {
        pid: r.pid,
        final_state: WIRE[r.finalState],
        checkpoint_id: r.checkpointId,
        pids: r.pids,
        log_path: r.logPath,
        stats: restoreStats(r.stats),
        gpu: r.gpu.map(gpuStats),
      };
    }),
    Continue: unary(log, 'Continue', async (req) => {
      const r = await services.continue.continue(continuePidOf(req));
      return { pids: r.pids, stopped_by: r.stoppedBy, gpu: r.gpu.map(gpuStats) };
    }),
    ListCheckpoints: unary(log, 'ListCheckpoints', async () => ({ checkpoints: (await services.checkpoints.list()).map(checkpoint) })),
    GetCheckpoint: unary(log, 'GetCheckpoint', async (req) => checkpoint(await services.checkpoints.get(checkpointRefOf(req)))),
    DeleteCheckpoint: unary(log, 'DeleteCheckpoint', async (req) => ({
      deleted: await services.checkpoints.delete(checkpointRefOf(req), cascadeOf(req)),
    })),
    Check: unary(log, 'Check', async (_req, { signal }) => {
      const r = await services.check.check(signal);
      return {
        criu_version: r.criuVersion,
        criu_transport: r.criuTransport,
        kernel: r.kernel,
        mem_track: r.memTrack,
        lazy_pages: r.lazyPages,
        pidfd_store: r.pidfdStore,
        gpu: {
          driver_loaded: r.gpu.driverLoaded,
          driver_version: r.gpu.driverVersion,
          checkpoint_api: r.gpu.checkpointApi,
          unavailable_reason: r.gpu.unavailableReason,
          gpus: r.gpu.gpus.map((g) => ({ index: g.index, name: g.name, uuid: g.uuid, memory_bytes: g.totalBytes })),
        },
      };
    }),
  };
}
