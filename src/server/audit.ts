import * as grpc from '@grpc/grpc-js';
import { deadlinePassed } from './unary';
import type { Logger } from '../log';
import { AGENT_METHOD_PREFIX, ANONYMOUS_IDENTITY, identityOf, peerOf, type Transports } from './authz';

/** The calls that change something on the node or in the store, or take a checkpoint's contents off it. */
export const AUDITED_METHODS: ReadonlySet<string> = new Set([
  'Dump',
  'PreDump',
  'Restore',
  'Continue',
  'DeleteCheckpoint',
  'ExportCheckpoint',
  'ImportCheckpoint',
  'Migrate',
  'ReceiveMigration',
]);

/** The request fields an audit line names (keepCase field names). */
interface AuditedRequest {
  pid?: number;
  checkpoint_id?: string;
  parent_checkpoint_id?: string;
}

/** What a request (or, for a client stream, its latest manifest chunk) names. */
function auditedRequest(message: unknown, previous: AuditedRequest | undefined): AuditedRequest | undefined {
  const m = message as
    | (AuditedRequest & { chunk?: string; step?: string; offer?: AuditedRequest | null; manifest?: { checkpoint?: AuditedRequest | null } | null })
    | null;
  if (m?.step === 'offer') return m.offer ?? previous;
  if (m?.step !== undefined) return previous;
  if (m?.chunk === 'data') return previous;
  if (m?.chunk === 'manifest') return m.manifest?.checkpoint ?? previous;
  return m ?? undefined;
}

/**
 * The one place audit lines are written: a grpc-js server interceptor that,
 * for every state-changing call (Dump, PreDump, Restore, Continue,
 * DeleteCheckpoint, ImportCheckpoint) and every ExportCheckpoint, logs one line on a child logger marked `audit: true`
 * with who called (identity), what (method), on which tree (pid) or
 * checkpoint (checkpointId), the result (gRPC status code name) and how long
 * it took (ms). Calls refused by the policy or the per-client limit are
 * audited too (it sits outside the authorization interceptor).
 */
export function auditInterceptor(opts: { transports: Transports; log: Logger }): grpc.ServerInterceptor {
  const log = opts.log.child({ audit: true });
  return (descriptor, call) => {
    if (!descriptor.path.startsWith(AGENT_METHOD_PREFIX)) return new grpc.ServerInterceptingCall(call);
    const method = descriptor.path.slice(AGENT_METHOD_PREFIX.length);
    if (!AUDITED_METHODS.has(method)) return new grpc.ServerInterceptingCall(call);
    const started = Date.now();
    const who = identityOf(call, opts.transports);
    let request: AuditedRequest | undefined;
    let requestId: string | undefined;
    let replied = false;
    let done = false;
    let handlerStarted = false;
    const write = (code: grpc.status, details?: string): void => {
      if (done) return;
      done = true;
      log.info(
        {
          identity: who.names[0] ?? ANONYMOUS_IDENTITY,
          method,
          ...(request?.pid ? { pid: request.pid } : {}),
          ...(request?.checkpoint_id ? { checkpointId: request.checkpoint_id } : {}),
          ...(request?.parent_checkpoint_id ? { parentCheckpointId: request.parent_checkpoint_id } : {}),
          code: grpc.status[code] ?? String(code),
          ms: Date.now() - started,
          ...(requestId ? { requestId } : {}),
          peer: peerOf(call),
          ...(code !== grpc.status.OK && details ? { error: details } : {}),
        },
        `audit: ${method} ${grpc.status[code] ?? String(code)}`,
      );
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            request = auditedRequest(message, request);
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            handlerStarted = true;
            nextHalfClose();
          },
          onCancel: () => {
            const streaming = descriptor.requestStream || descriptor.responseStream;
            // A unary call whose answer went out was answered OK. A stream's
            // messages are only steps: a Migrate cancelled after its DUMPED
            // event failed (its audit line said OK before).
            if (replied && !descriptor.responseStream) write(grpc.status.OK);
            else if (!handlerStarted && !descriptor.requestStream) write(grpc.status.CANCELLED, 'cancelled before the agent started it');
            else if (streaming) {
              // grpc-js sends a cancelled stream's later status past the
              // interceptors: what the client did is the result.
              if (deadlinePassed(call.getDeadline())) write(grpc.status.DEADLINE_EXCEEDED, "the call's deadline passed; the agent stopped the work");
              else write(grpc.status.CANCELLED, 'the client cancelled the call; the agent stopped the work');
            }
            // else: the handler is stopping CRIU; its answer is the result.
          },
        }),
      sendMetadata: (metadata, next) => next(metadata),
      sendMessage: (message, next) => {
        replied = true;
        next(message);
      },
      sendStatus: (status, next) => {
        const id = status.metadata?.get('x-request-id')[0];
        if (typeof id === 'string') requestId = id;
        write(status.code, status.details);
        next(status);
      },
    });
  };
}
