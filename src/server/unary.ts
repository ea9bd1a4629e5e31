import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { AgentError } from '../errors';
import type { Logger } from '../log';
import { toStatus } from './status';

export interface CallContext {
  /** Aborts when the client cancels or its deadline passes. */
  signal: AbortSignal;
  /**
   * This call's id: in every log line of the call, in the reply's trailing
   * metadata (`x-request-id`), and safe in a file name ([A-Za-z0-9._-]).
   */
  requestId: string;
}

/** Metadata key of the request id, both ways: a client may choose it, the agent always returns it. */
export const REQUEST_ID_KEY = 'x-request-id';

/** A client's own request id is used when it is this safe (it ends up in log lines and file names). */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Differs between agent processes, so ids stay unique across restarts (the pid alone repeats). */
const PROCESS_TAG = randomBytes(3).toString('hex');
let nextId = 0;

/** A new request id, e.g. "3f9a1c-1b": this process's tag and a counter. */
export function newRequestId(): string {
  return `${PROCESS_TAG}-${(nextId++).toString(36)}`;
}

/** The client's `x-request-id` when it is usable, else a new id. */
export function requestIdOf(metadata: grpc.Metadata | undefined): string {
  const given = metadata?.get(REQUEST_ID_KEY)[0];
  return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : newRequestId();
}

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
    // `metadata` is optional here only for the unit tests' fake calls.
    const requestId = requestIdOf((call as Partial<typeof call>).metadata);
    const callLog = log.child({ requestId, method });
    const controller = new AbortController();
    const started = Date.now();
    let answered = false;
    const abort = (reason: 'cancelled' | 'deadline'): void => {
      // grpc-js reports every call as cancelled once its status is sent, answered or not.
      if (answered || controller.signal.aborted) return;
      callLog.info({ reason }, `${method}: ${reason === 'deadline' ? "the call's deadline passed" : 'the client cancelled'}, stopping`);
      // Said before the outcome is known: CRIU is stopped at its next safe
      // point in the background (service/, criu/client.ts), or completes.
      const outcome =
        'any CRIU run is stopped at its next safe point, leaving the tree as it was, unless it had already completed; ' +
        `retry with the same ${REQUEST_ID_KEY} (${requestId}) to learn the result`;
      controller.abort(
        reason === 'deadline'
          ? new AgentError('deadline-exceeded', `${method}: the call's deadline passed; ${outcome}`)
          : new AgentError('cancelled', `${method}: the client cancelled the call; ${outcome}`),
      );
    };
    // grpc-js answers an expired deadline itself, and then does not always
    // report the call as cancelled: keep our own timer so CRIU is stopped.
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const timer = Number.isFinite(deadlineMs) ? setTimeout(() => abort('deadline'), Math.max(0, deadlineMs - Date.now())) : undefined;
    call.on('cancelled', () => abort(Number.isFinite(deadlineMs) && deadlineMs <= Date.now() + 5 ? 'deadline' : 'cancelled'));
    const settle = (): void => {
      answered = true;
      clearTimeout(timer);
    };
    const trailer = new grpc.Metadata();
    trailer.set(REQUEST_ID_KEY, requestId);
    callLog.debug({ peer: peerOf(call) }, `${method} started`);
    handler(call.request, { signal: controller.signal, requestId }).then(
      (res) => {
        settle();
        callLog.info({ ms: Date.now() - started, code: 'OK' }, `${method} ok`);
        callback(null, res, trailer);
      },
      (err: unknown) => {
        settle();
        const status = toStatus(err);
        status.metadata?.set(REQUEST_ID_KEY, requestId);
        callLog.warn(
          { ms: Date.now() - started, code: grpc.status[status.code ?? grpc.status.UNKNOWN], error: status.details },
          `${method} failed`,
        );
        callback(status);
      },
    );
  };
}

function peerOf(call: grpc.ServerUnaryCall<unknown, unknown>): string | undefined {
  try {
    return typeof call.getPeer === 'function' ? call.getPeer() : undefined;
  } catch {
    return undefined;
  }
}
