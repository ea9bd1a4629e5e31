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
    call.on('cancelled', () => {
      // grpc-js reports an expired deadline as a cancellation too.
      const deadline = call.getDeadline();
      const expired = deadline !== Infinity && new Date(deadline).getTime() <= Date.now() + 5;
      controller.abort(
        expired
          ? new AgentError('deadline-exceeded', `${method}: the call's deadline passed; CRIU was stopped and the tree left as it was`)
          : new AgentError('cancelled', `${method}: the client cancelled the call; CRIU was stopped and the tree left as it was`),
      );
    });
    handler(call.request, { signal: controller.signal, requestId }).then(
      (res) => {
        log.info({ requestId, method, ms: Date.now() - started, code: 'OK' }, `${method} ok`);
        callback(null, res);
      },
      (err: unknown) => {
        const status = toStatus(err);
        log.warn({ requestId, method, ms: Date.now() - started, code: status.code, error: status.details }, `${method} failed`);
        callback(status);
      },
    );
  };
}
