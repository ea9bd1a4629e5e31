import type { CheckpointAgentHandlers } from '../generated/criu_agent/v1/CheckpointAgent';
import type { FinalState__Output } from '../generated/criu_agent/v1/FinalState';
import { invalidArgument } from '../errors';
import type { FinalState, RequestedState } from '../finalState';
import type { Logger } from '../log';
import type { DumpStats, RestoreStats } from '../criu/stats';
import type { Checkpoint } from '../generated/criu_agent/v1/Checkpoint';
import type { DumpStats as WireDumpStats } from '../generated/criu_agent/v1/DumpStats';
import type { RestoreStats as WireRestoreStats } from '../generated/criu_agent/v1/RestoreStats';
import type { DumpRequest__Output } from '../generated/criu_agent/v1/DumpRequest';
import type { PreDumpRequest__Output } from '../generated/criu_agent/v1/PreDumpRequest';
import type { PreDumpResponse } from '../generated/criu_agent/v1/PreDumpResponse';
import type { CheckpointInfo, DumpParams, DumpResult, Services } from '../service';
import { unary } from './unary';

const REQUESTED: Record<string, RequestedState> = {
  FINAL_STATE_UNSPECIFIED: 'UNSPECIFIED',
  FINAL_STATE_RUNNING: 'RUNNING',
  FINAL_STATE_STOPPED: 'STOPPED',
  FINAL_STATE_DEAD: 'DEAD',
};

const WIRE: Record<FinalState, FinalState__Output> = {
  RUNNING: 'FINAL_STATE_RUNNING',
  STOPPED: 'FINAL_STATE_STOPPED',
  DEAD: 'FINAL_STATE_DEAD',
};

/** Linux's PID_MAX_LIMIT (4M): no pid is larger on any kernel. */
const PID_MAX = 4_194_304;

function requestedState(v: unknown): RequestedState {
  // An enum number this agent does not know arrives as a bare number.
  const s = typeof v === 'string' ? REQUESTED[v] : undefined;
  if (!s) throw invalidArgument(`final_state ${String(v)} is not one of FINAL_STATE_UNSPECIFIED, FINAL_STATE_RUNNING, FINAL_STATE_STOPPED, FINAL_STATE_DEAD`);
  return s;
}

function pidOf(v: number, field = 'pid'): number {
  if (!Number.isInteger(v) || v <= 0) throw invalidArgument(`${field} must be a positive process id, got ${v}`);
  if (v > PID_MAX) throw invalidArgument(`${field} ${v} is larger than any Linux pid (${PID_MAX})`);
  return v;
}

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
  };
}

/** Dump and PreDump requests share their fields. */
function dumpParams(req: DumpRequest__Output | PreDumpRequest__Output): DumpParams {
  return {
    pid: pidOf(req.pid),
    checkpointId: req.checkpoint_id,
    requested: requestedState(req.final_state),
    parentId: req.parent_checkpoint_id,
    options: req.options ?? {},
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

/** Thin handlers: request -> service call -> response. Nothing else. */
export function agentHandlers(services: Services, log: Logger): CheckpointAgentHandlers {
  return {
    Dump: unary(log, 'Dump', async (req, { signal, requestId }) => {
      const { final_state_ignored: _ignored, ...res } = dumpResponse(await services.dump.dump(dumpParams(req), signal, requestId));
      return res;
    }),
    PreDump: unary(log, 'PreDump', async (req, { signal, requestId }) =>
      dumpResponse(await services.dump.preDump(dumpParams(req), signal, requestId)),
    ),
    Restore: unary(log, 'Restore', async (req, { signal, requestId }) => {
      const r = await services.restore.restore(
        { checkpointId: req.checkpoint_id, requested: requestedState(req.final_state), options: req.options ?? {} },
        signal,
        requestId,
      );
      return {
        pid: r.pid,
        final_state: WIRE[r.finalState],
        checkpoint_id: r.checkpointId,
        pids: r.pids,
        log_path: r.logPath,
        stats: restoreStats(r.stats),
      };
    }),
    Continue: unary(log, 'Continue', async (req) => {
      const r = await services.continue.continue(pidOf(req.pid));
      return { pids: r.pids, stopped_by: r.stoppedBy };
    }),
    ListCheckpoints: unary(log, 'ListCheckpoints', async () => ({ checkpoints: (await services.checkpoints.list()).map(checkpoint) })),
    GetCheckpoint: unary(log, 'GetCheckpoint', async (req) => checkpoint(await services.checkpoints.get(req.checkpoint_id))),
    DeleteCheckpoint: unary(log, 'DeleteCheckpoint', async (req) => ({
      deleted: await services.checkpoints.delete(req.checkpoint_id, req.cascade),
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
      };
    }),
  };
}
