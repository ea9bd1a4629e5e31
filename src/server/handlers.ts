import type { CheckpointAgentHandlers } from '../generated/criu_agent/v1/CheckpointAgent';
import type { Logger } from '../log';
import type { RestoreStats } from '../criu/stats';
import type { Checkpoint } from '../generated/criu_agent/v1/Checkpoint';
import type { RestoreStats as WireRestoreStats } from '../generated/criu_agent/v1/RestoreStats';
import type { PreDumpResponse } from '../generated/criu_agent/v1/PreDumpResponse';
import type { GpuProcessStats } from '../generated/criu_agent/v1/GpuProcessStats';
import type { CheckpointInfo, DumpResult, GpuProcessReport, Services } from '../service';
import { checkpointToWire, chunkToWire, dumpStatsToWire as dumpStats, WIRE_FINAL_STATE as WIRE } from '../transfer';
import { bidi, clientStream, serverPush, serverStream, unary } from './unary';
import { cascadeOf, checkpointRefOf, continuePidOf, dumpParamsOf, exportParamsOf, migrateParamsOf, pullParamsOf, pushParamsOf, restoreParamsOf, transferItemOf } from './validate';

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
  return checkpointToWire(c, c.imagesDir, c.children);
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
      const { imageReference, ...params } = restoreParamsOf(req);
      // Restore by reference: pull unless the same checkpoint is here already, then restore it.
      if (imageReference) params.checkpointId = (await services.registry.pull(imageReference, params.checkpointId, { reuse: true }, signal, requestId)).checkpoint.id;
      const r = await services.restore.restore(params, signal, requestId);
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
    ExportCheckpoint: serverStream(log, 'ExportCheckpoint', async function* (req, { signal, requestId }) {
      const { checkpointId, includeParents } = exportParamsOf(req);
      for await (const item of services.transfer.export(checkpointId, includeParents, signal, requestId)) yield chunkToWire(item);
    }),
    ImportCheckpoint: clientStream(log, 'ImportCheckpoint', async (chunks, { signal, requestId }) => {
      const items = (async function* () {
        for await (const c of chunks) yield transferItemOf(c);
      })();
      return checkpoint(await services.transfer.import(items, signal, requestId));
    }),
    PushCheckpoint: unary(log, 'PushCheckpoint', async (req, { signal, requestId }) => {
      const { checkpointId, reference } = pushParamsOf(req);
      const r = await services.registry.push(checkpointId, reference, signal, requestId);
      return { digest: r.digest, bytes_uploaded: r.bytesUploaded, bytes_skipped: r.bytesSkipped, reference: r.reference };
    }),
    PullCheckpoint: unary(log, 'PullCheckpoint', async (req, { signal, requestId }) => {
      const { reference, checkpointId } = pullParamsOf(req);
      return checkpoint((await services.registry.pull(reference, checkpointId, {}, signal, requestId)).checkpoint);
    }),
    Migrate: serverPush(log, 'Migrate', async (req, send, { signal, requestId }) => {
      await services.migrate.migrate(
        migrateParamsOf(req),
        (e) =>
          send({
            step: `MIGRATE_STEP_${e.step}`,
            message: e.message,
            bytes: e.bytes ?? 0,
            duration_us: e.durationUs ?? 0,
            result: e.result
              ? {
                  checkpoint_id: e.result.checkpointId,
                  mode: `MIGRATE_MODE_${e.result.mode}`,
                  destination_pid: e.result.destinationPid,
                  pids: e.result.pids,
                  final_state: WIRE[e.result.finalState],
                  rounds: e.result.rounds,
                  downtime_us: e.result.downtimeUs,
                  frozen_time_us: e.result.frozenTimeUs,
                  transfer_bytes: e.result.transferBytes,
                  transfer_time_us: e.result.transferTimeUs,
                  restore_time_us: e.result.restoreTimeUs,
                }
              : null,
          }),
        signal,
        requestId,
      );
    }),
    ReceiveMigration: bidi(log, 'ReceiveMigration', (steps, send, { signal, requestId }) =>
      services.migrationTarget.receive(steps, send, signal, requestId),
    ),
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
