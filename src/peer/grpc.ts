import * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';
import type { PeerTlsFiles } from '../config';
import { AgentError, errorMessage, type ErrorKind } from '../errors';
import type { ProtoGrpcType } from '../generated/agent';
import type { CheckpointAgentClient } from '../generated/criu_agent/v1/CheckpointAgent';
import type { MigrationReply__Output } from '../generated/criu_agent/v1/MigrationReply';
import type { MigrationStep } from '../generated/criu_agent/v1/MigrationStep';
import { parseListenAddress } from '../listenAddress';
import { loadAgentPackageDefinition } from '../proto';
import { clientTlsCredentials, dropIpServerNameWarning, type TlsSetting } from '../tlsClient';
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

/** The peer TLS flags, for messages. */
const PEER_TLS_FLAGS = '--peer-tls-ca FILE (the CA of the destination\'s certificate) and, for a destination that requires client certificates, --peer-tls-cert FILE --peer-tls-key FILE';

/**
 * How this agent dials a peer: a unix socket in plaintext (its file mode
 * protects it, as for controllers); a TCP address over TLS whenever any
 * peer TLS file is configured, presenting the client certificate when there
 * is one (the destination's policy authorizes its identity like any
 * controller's); without them plaintext TCP only to loopback. A non-loopback
 * destination without peer TLS is refused: the tree's memory would cross the
 * network in clear, and anyone on the path could pose as the destination.
 * The files are read now, so a renewed certificate is used by the next migration.
 */
export function peerCredentials(address: string, tls: PeerTlsFiles | undefined): grpc.ChannelCredentials {
  if (address.startsWith('unix:')) return grpc.credentials.createInsecure();
  let loopback: boolean;
  let ip: boolean;
  try {
    const dest = parseListenAddress(address, { tls: true });
    loopback = dest.kind === 'tcp' && dest.loopback;
    ip = dest.kind === 'tcp' && isIP(dest.host.replace(/^\[|\]$/g, '')) !== 0;
  } catch (err) {
    throw new AgentError('invalid-argument', `destination ${JSON.stringify(address.slice(0, 100))}: ${errorMessage(err)}`);
  }
  if (!tls) {
    if (loopback) return grpc.credentials.createInsecure();
    throw new AgentError(
      'failed-precondition',
      `the destination ${address} is reached over TCP beyond loopback, which needs TLS, and this agent has no client TLS settings for its peers: ` +
        `start it with ${PEER_TLS_FLAGS} (or CRIU_AGENT_PEER_TLS_CA, CRIU_AGENT_PEER_TLS_CERT, CRIU_AGENT_PEER_TLS_KEY)`,
    );
  }
  if (ip) dropIpServerNameWarning();
  const setting = (value: string | undefined, flag: string): TlsSetting | undefined => (value ? { value, from: flag } : undefined);
  return clientTlsCredentials(
    { ca: setting(tls.ca, '--peer-tls-ca'), cert: setting(tls.cert, '--peer-tls-cert'), key: setting(tls.key, '--peer-tls-key') },
    (message) => new AgentError('failed-precondition', message),
  );
}

/**
 * Resolves once the channel is connected. Rejects at its first failed
 * attempt (a destination that cannot be reached now must not hold the
 * migration for the connect bound) with grpc's own reason, e.g. the TLS
 * verification error of a certificate from another CA: a call made without
 * waiting for the channel fails at once and carries "Last error: ...".
 */
function connected(client: grpc.Client, address: string, signal?: AbortSignal): Promise<void> {
  const channel = client.getChannel();
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  return new Promise<void>((resolve, reject) => {
    const fail = (why: string): void =>
      reject(new AgentError('unavailable', `cannot reach the destination agent at ${address}: ${why}`));
    // The caller's cancel or deadline ends the wait at once (a settled promise ignores what follows).
    signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    const step = (): void => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return resolve();
      // Closed by the session's cancel: grpc-js throws for calls and watches on it.
      if (state === grpc.connectivityState.SHUTDOWN) return fail('the migration call was abandoned');
      if (Date.now() >= deadline) return fail(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`);
      if (state === grpc.connectivityState.TRANSIENT_FAILURE) {
        // The health service's path: a call that reached a server by now would be harmless.
        client.makeUnaryRequest(
          '/grpc.health.v1.Health/Check',
          () => Buffer.alloc(0),
          (b: Buffer) => b,
          {},
          { deadline: Date.now() + 2000 },
          // No error: the channel connected meanwhile; look again.
          (err) => (err ? fail(err.details.replace(/\.? ?Resolution note: *$/, '')) : step()),
        );
        return;
      }
      channel.watchConnectivityState(state, deadline, step);
    };
    step();
  });
}

/**
 * Other agents over gRPC: a unix socket path or host:port, plaintext (the
 * unix socket's mode, or loopback) or with the agent's client TLS settings
 * (peerCredentials).
 */
export class GrpcPeerConnector implements PeerConnector {
  private readonly definition = loadAgentPackageDefinition();

  constructor(private readonly tls?: PeerTlsFiles) {}

  open(address: string, signal?: AbortSignal): PeerSession {
    // Throws (before anything is frozen) for a destination this agent may not dial as configured.
    const credentials = peerCredentials(address, this.tls);
    // A channel per session, closed with it: a cached one would hold a connection to every
    // destination ever used, and keep a destination agent that stops waiting for it.
    const proto = grpc.loadPackageDefinition(this.definition) as unknown as ProtoGrpcType;
    const client: CheckpointAgentClient = new proto.criu_agent.v1.CheckpointAgent(address, credentials, {
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
    const ready = connected(client, address, signal).then(
      () => {
        const c = client.ReceiveMigration();
        // The first error is the destination's status; later ones (writes to the ended call) only echo it.
        c.on('error', (e: grpc.ServiceError) => void (failure ??= peerError(address, e)));
        c.on('status', () => client.close());
        c.on('close', () => void (closed = true));
        // The caller's cancel or deadline ends the session: the destination then undoes what it did.
        signal?.addEventListener('abort', () => c.cancel(), { once: true });
        return c;
      },
      (err: unknown) => {
        client.close();
        throw err;
      },
    );
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
