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

function deadlineMsOf(deadline: grpc.Deadline): number {
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/** Whether a call ended by its deadline rather than by the client (grpc-js reports both as a cancel). */
export function deadlinePassed(deadline: grpc.Deadline): boolean {
  const ms = deadlineMsOf(deadline);
  return Number.isFinite(ms) && ms <= Date.now() + 5;
}

/** What every adapter below shares for one call: its id, log, abort signal, and the one mapping of outcomes to a status. */
interface CallScope {
  ctx: CallContext;
  /** The call ended well: logs it, returns the trailers to send. */
  ok(): grpc.Metadata;
  /** The call failed: logs it, returns the status to send. */
  fail(err: unknown): Partial<grpc.StatusObject>;
}

type AnyServerCall =
  | grpc.ServerUnaryCall<unknown, unknown>
  | grpc.ServerReadableStream<unknown, unknown>
  | grpc.ServerWritableStream<unknown, unknown>
  | grpc.ServerDuplexStream<unknown, unknown>;

function openScope(log: Logger, method: string, call: AnyServerCall): CallScope {
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
  const deadlineMs = deadlineMsOf(call.getDeadline());
  const timer = Number.isFinite(deadlineMs) ? setTimeout(() => abort('deadline'), Math.max(0, deadlineMs - Date.now())) : undefined;
  (call as NodeJS.EventEmitter).on('cancelled', () => abort(deadlinePassed(call.getDeadline()) ? 'deadline' : 'cancelled'));
  const settle = (): void => {
    answered = true;
    clearTimeout(timer);
  };
  callLog.debug({ peer: peerOf(call) }, `${method} started`);
  return {
    ctx: { signal: controller.signal, requestId },
    ok: () => {
      settle();
      callLog.info({ ms: Date.now() - started, code: 'OK' }, `${method} ok`);
      const trailer = new grpc.Metadata();
      trailer.set(REQUEST_ID_KEY, requestId);
      return trailer;
    },
    fail: (err) => {
      settle();
      const status = toStatus(err);
      status.metadata?.set(REQUEST_ID_KEY, requestId);
      callLog.warn({ ms: Date.now() - started, code: grpc.status[status.code ?? grpc.status.UNKNOWN], error: status.details }, `${method} failed`);
      return status;
    },
  };
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
    const scope = openScope(log, method, call);
    handler(call.request, scope.ctx).then(
      (res) => callback(null, res, scope.ok()),
      (err: unknown) => callback(scope.fail(err)),
    );
  };
}

/**
 * unary's counterpart for server-streaming calls: the handler's messages are
 * written with the stream's flow control (a slow client slows the producer,
 * nothing piles up in memory), errors end the call with their status.
 */
export function serverStream<Req, Res>(
  log: Logger,
  method: string,
  handler: (req: Req, ctx: CallContext) => AsyncIterable<Res>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const scope = openScope(log, method, call);
    const pump = async (): Promise<void> => {
      for await (const msg of handler(call.request, scope.ctx)) {
        scope.ctx.signal.throwIfAborted();
        if (!call.write(msg)) await drained(call, scope.ctx.signal);
      }
    };
    pump().then(
      () => call.end(scope.ok()),
      (err: unknown) => call.emit('error', scope.fail(err)),
    );
  };
}

/**
 * unary's counterpart for client-streaming calls: the handler reads the
 * client's messages as an async iterable (ending when the client half-closes;
 * a cancel aborts the signal) and answers once.
 */
export function clientStream<Req, Res>(
  log: Logger,
  method: string,
  handler: (reqs: AsyncIterable<Req>, ctx: CallContext) => Promise<Res>,
): grpc.handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    const scope = openScope(log, method, call);
    const messages = (async function* (): AsyncGenerator<Req> {
      for await (const m of call as AsyncIterable<Req>) yield m;
      // grpc-js ends the readable side on a cancel as on a half-close.
      scope.ctx.signal.throwIfAborted();
    })();
    handler(messages, scope.ctx).then(
      (res) => callback(null, res, scope.ok()),
      (err: unknown) => callback(scope.fail(err)),
    );
  };
}

/**
 * For streaming handlers that push: the handler gets `send` (flow-controlled)
 * and, for a bidirectional call, the client's messages; it resolves to end
 * the call OK, or rejects to end it with the error's status.
 */
export function serverPush<Req, Res>(
  log: Logger,
  method: string,
  handler: (req: Req, send: (msg: Res) => Promise<void>, ctx: CallContext) => Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const scope = openScope(log, method, call);
    const send = async (msg: Res): Promise<void> => {
      scope.ctx.signal.throwIfAborted();
      if (!call.write(msg)) await drained(call, scope.ctx.signal);
    };
    handler(call.request, send, scope.ctx).then(
      () => call.end(scope.ok()),
      (err: unknown) => call.emit('error', scope.fail(err)),
    );
  };
}

/** serverPush's counterpart for bidirectional calls: the client's messages as an async iterable (see clientStream). */
export function bidi<Req, Res>(
  log: Logger,
  method: string,
  handler: (reqs: AsyncIterable<Req>, send: (msg: Res) => Promise<void>, ctx: CallContext) => Promise<void>,
): grpc.handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const scope = openScope(log, method, call);
    const messages = (async function* (): AsyncGenerator<Req> {
      for await (const m of call as AsyncIterable<Req>) yield m;
      scope.ctx.signal.throwIfAborted();
    })();
    const send = async (msg: Res): Promise<void> => {
      scope.ctx.signal.throwIfAborted();
      if (!call.write(msg)) await drained(call as unknown as grpc.ServerWritableStream<unknown, unknown>, scope.ctx.signal);
    };
    handler(messages, send, scope.ctx).then(
      () => call.end(scope.ok()),
      (err: unknown) => call.emit('error', scope.fail(err)),
    );
  };
}

function drained(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      if (signal.aborted) reject(signal.reason as Error);
      else resolve();
    };
    call.on('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

function peerOf(call: AnyServerCall): string | undefined {
  try {
    return typeof call.getPeer === 'function' ? call.getPeer() : undefined;
  } catch {
    return undefined;
  }
}
