import * as grpc from '@grpc/grpc-js';
import { AgentError, errorMessage, type ErrorKind } from '../errors';
import type { ProtoGrpcType } from '../generated/agent';
import type { CheckpointAgentClient } from '../generated/criu_agent/v1/CheckpointAgent';
import type { MigrationReply__Output } from '../generated/criu_agent/v1/MigrationReply';
import type { MigrationStep } from '../generated/criu_agent/v1/MigrationStep';
import { loadAgentPackageDefinition } from '../proto';
import type { PeerConnector, PeerSession } from '../service/peer';

/** How long a destination may take to accept the connection. */
const CONNECT_TIMEOUT_MS = 10_000;

const KINDS: Partial<Record<grpc.status, ErrorKind>> = {
  [grpc.status.INVALID_ARGUMENT]: 'invalid-argument',
  [grpc.status.NOT_FOUND]: 'not-found',
  [grpc.status.ALREADY_EXISTS]: 'already-exists',
  [grpc.status.FAILED_PRECONDITION]: 'failed-precondition',
  [grpc.status.PERMISSION_DENIED]: 'permission-denied',
  [grpc.status.UNAUTHENTICATED]: 'permission-denied',
  [grpc.status.RESOURCE_EXHAUSTED]: 'resource-exhausted',
  [grpc.status.ABORTED]: 'aborted',
  [grpc.status.CANCELLED]: 'unavailable',
  [grpc.status.DEADLINE_EXCEEDED]: 'deadline-exceeded',
  [grpc.status.UNAVAILABLE]: 'unavailable',
  [grpc.status.DATA_LOSS]: 'data-loss',
};

/** A destination's status as this agent's error: the same kind, its message naming the destination. */
function peerError(address: string, err: grpc.ServiceError): AgentError {
  if (typeof err.code !== 'number') {
    // A stream error of grpc-js or Node (e.g. ERR_STREAM_DESTROYED), no status the destination sent.
    return new AgentError('unavailable', `the call to the destination agent at ${address} failed: ${errorMessage(err)}`, { cause: err });
  }
  const kind = KINDS[err.code] ?? 'internal';
  const what = err.code === grpc.status.UNAVAILABLE ? `cannot reach the destination agent at ${address}` : `the destination agent at ${address} answered ${grpc.status[err.code]}`;
  return new AgentError(kind, `${what}: ${err.details}`, { cause: err });
}

/**
 * Other agents over gRPC: a unix socket path or host:port, plaintext (the
 * unix socket's mode, or loopback) or with the agent's client TLS settings.
 */
export class GrpcPeerConnector implements PeerConnector {
  private readonly definition = loadAgentPackageDefinition();

  constructor(private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {}

  open(address: string, signal?: AbortSignal): PeerSession {
    // A channel per session, closed with it: a cached one would hold a connection to every
    // destination ever used, and keep a destination agent that stops waiting for it.
    const proto = grpc.loadPackageDefinition(this.definition) as unknown as ProtoGrpcType;
    const client: CheckpointAgentClient = new proto.criu_agent.v1.CheckpointAgent(address, this.credentials, {
      'grpc.max_receive_message_length': 1 << 24,
    });
    // Why the call ended, once it did: the destination's status (its refusal), or its end.
    // Kept here because grpc-js destroys the call once its error was read (by
    // receive()): a later write returns false and no drain, error or close
    // follows, so a send must look here first or it waits for ever.
    let failure: AgentError | undefined;
    let closed = false;
    const gone = (): AgentError | undefined =>
      failure ?? (closed ? new AgentError('unavailable', `the destination agent at ${address} ended the call`) : undefined);
    // Without a connection a streaming call would wait for one forever: connect first, within a bound.
    const ready = new Promise<grpc.ClientDuplexStream<MigrationStep, MigrationReply__Output>>((resolve, reject) => {
      client.waitForReady(Date.now() + CONNECT_TIMEOUT_MS, (err) => {
        if (err) {
          client.close();
          reject(new AgentError('unavailable', `cannot reach the destination agent at ${address} within ${CONNECT_TIMEOUT_MS / 1000} s: ${err.message}`));
          return;
        }
        const c = client.ReceiveMigration();
        // The first error is the destination's status; later ones (writes to the ended call) only echo it.
        c.on('error', (e: grpc.ServiceError) => void (failure ??= peerError(address, e)));
        c.on('status', () => client.close());
        c.on('close', () => void (closed = true));
        // The caller's cancel or deadline ends the session: the destination then undoes what it did.
        signal?.addEventListener('abort', () => c.cancel(), { once: true });
        resolve(c);
      });
    });
    ready.catch(() => undefined);
    let iterator: AsyncIterator<MigrationReply__Output> | undefined;
    let cancelled = false;
    return {
      send: async (step: MigrationStep) => {
        const call = await ready;
        signal?.throwIfAborted();
        if (cancelled) throw new AgentError('cancelled', 'the migration call was abandoned');
        const ended = gone();
        if (ended) throw ended;
        if (!call.write(step)) {
          // A write to a call destroyed meanwhile returns false, and nothing follows it.
          if (call.destroyed) throw gone() ?? new AgentError('unavailable', `the destination agent at ${address} ended the call`);
          await new Promise<void>((resolve, reject) => {
            const done = (): void => {
              call.off('drain', onDrain);
              call.off('error', onError);
              call.off('close', onClose);
              signal?.removeEventListener('abort', onAbort);
            };
            const onDrain = (): void => {
              done();
              resolve();
            };
            const onError = (err: grpc.ServiceError): void => {
              done();
              reject(failure ?? peerError(address, err));
            };
            const onClose = (): void => {
              done();
              reject(gone() ?? new AgentError('unavailable', `the destination agent at ${address} ended the call`));
            };
            const onAbort = (): void => {
              done();
              reject(signal?.reason as Error);
            };
            call.once('drain', onDrain);
            call.once('error', onError);
            call.once('close', onClose);
            signal?.addEventListener('abort', onAbort, { once: true });
          });
        }
      },
      receive: async () => {
        const call = await ready;
        iterator ??= (call as AsyncIterable<MigrationReply__Output>)[Symbol.asyncIterator]();
        try {
          const r = await iterator.next();
          return r.done ? null : r.value;
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          throw failure ?? peerError(address, err as grpc.ServiceError);
        }
      },
      end: () => void ready.then((c) => c.end(), () => undefined),
      cancel: () => {
        cancelled = true;
        void ready.then((c) => c.cancel(), () => undefined);
        client.close();
      },
    };
  }
}
