import type { CheckpointAgentHandlers } from '../generated/criu_agent/v1/CheckpointAgent';
import type { FinalState__Output } from '../generated/criu_agent/v1/FinalState';
import { invalidArgument } from '../errors';
import type { FinalState, RequestedState } from '../finalState';
import type { Logger } from '../log';
import type { Services } from '../service';
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

/** Thin handlers: request -> service call -> response. Nothing else. */
export function agentHandlers(services: Services, log: Logger): CheckpointAgentHandlers {
  return {
    Dump: unary(log, 'Dump', async (req, { signal }) => {
      const r = await services.dump.dump(
        {
          pid: pidOf(req.pid),
          checkpointId: req.checkpoint_id,
          requested: requestedState(req.final_state),
          parentId: req.parent_checkpoint_id,
          options: req.options ?? {},
        },
        signal,
      );
      return { checkpoint_id: r.checkpointId, final_state: WIRE[r.finalState], images_dir: r.imagesDir, pids: r.pids, log_path: r.logPath };
    }),
    PreDump: unary(log, 'PreDump', async (req, { signal }) => {
      const r = await services.dump.preDump(
        {
          pid: pidOf(req.pid),
          checkpointId: req.checkpoint_id,
          requested: requestedState(req.final_state),
          parentId: req.parent_checkpoint_id,
          options: req.options ?? {},
        },
        signal,
      );
      return {
        checkpoint_id: r.checkpointId,
        final_state: WIRE[r.finalState],
        final_state_ignored: r.finalStateIgnored,
        images_dir: r.imagesDir,
        pids: r.pids,
        log_path: r.logPath,
      };
    }),
    Restore: unary(log, 'Restore', async (req, { signal }) => {
      const r = await services.restore.restore(
        { checkpointId: req.checkpoint_id, requested: requestedState(req.final_state), options: req.options ?? {} },
        signal,
      );
      return { pid: r.pid, final_state: WIRE[r.finalState], checkpoint_id: r.checkpointId, pids: r.pids, log_path: r.logPath };
    }),
    Continue: unary(log, 'Continue', async (req) => services.continue.continue(pidOf(req.pid))),
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
