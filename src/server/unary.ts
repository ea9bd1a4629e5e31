import type * as grpc from '@grpc/grpc-js';
import { AgentError } from '../errors';
import type { Logger } from '../log';
import { toStatus } from './status';

export interface CallContext {
  /** Aborts when the client cancels or its deadline passes. */
  signal: AbortSignal;
  /** Short id for log lines of this call. */
  requestId: string;
}

let nextId = 0;

/**
 * The one adapter between grpc-js (which ignores returned promises) and the
 * async handlers: awaits, maps every error in one place, turns the client's
 * cancel or deadline into an AbortSignal, and never lets a rejection escape.
 */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  handler: (req: Req, ctx: CallContext) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const requestId = `${process.pid.toString(36)}-${(nextId++).toString(36)}`;
    const controller = new AbortController();
    const started = Date.now();
    const abort = (reason: 'cancelled' | 'deadline'): void => {
      if (controller.signal.aborted) return;
      controller.abort(
        reason === 'deadline'
          ? new AgentError('deadline-exceeded', `${method}: the call's deadline passed; CRIU was stopped and the tree left as it was`)
          : new AgentError('cancelled', `${method}: the client cancelled the call; CRIU was stopped and the tree left as it was`),
      );
    };
    // grpc-js answers an expired deadline itself, and then does not always
    // report the call as cancelled: keep our own timer so CRIU is stopped.
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const timer = Number.isFinite(deadlineMs) ? setTimeout(() => abort('deadline'), Math.max(0, deadlineMs - Date.now())) : undefined;
    call.on('cancelled', () => abort(Number.isFinite(deadlineMs) && deadlineMs <= Date.now() + 5 ? 'deadline' : 'cancelled'));
    const settle = (): void => clearTimeout(timer);
    handler(call.request, { signal: controller.signal, requestId }).then(
      (res) => {
        settle();
        log.info({ requestId, method, ms: Date.now() - started, code: 'OK' }, `${method} ok`);
        callback(null, res);
      },
      (err: unknown) => {
        settle();
        const status = toStatus(err);
        log.warn({ requestId, method, ms: Date.now() - started, code: status.code, error: status.details }, `${method} failed`);
        callback(status);
      },
    );
  };
}
