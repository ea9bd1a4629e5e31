import * as grpc from '@grpc/grpc-js';
import { AgentError, type ErrorKind } from '../errors';
import type { ProtoGrpcType } from '../generated/agent';
import type { CheckpointAgentClient } from '../generated/criu_agent/v1/CheckpointAgent';
import type { MigrationReply__Output } from '../generated/criu_agent/v1/MigrationReply';
import type { MigrationStep } from '../generated/criu_agent/v1/MigrationStep';
import { loadAgentPackageDefinition } from '../proto';
import type { PeerConnector, PeerSession } from '../service/peer';

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
  const kind = KINDS[err.code] ?? 'internal';
  const what = err.code === grpc.status.UNAVAILABLE ? `cannot reach the destination agent at ${address}` : `the destination agent at ${address} answered ${grpc.status[err.code]}`;
  return new AgentError(kind, `${what}: ${err.details}`, { cause: err });
}

/**
 * Other agents over gRPC: a unix socket path or host:port, plaintext (the
 * unix socket's mode, or loopback) or with the agent's client TLS settings.
 */
export class GrpcPeerConnector implements PeerConnector {
  private readonly clients = new Map<string, CheckpointAgentClient>();

  constructor(private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {}

  open(address: string, signal?: AbortSignal): PeerSession {
    let client = this.clients.get(address);
    if (!client) {
      const proto = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as ProtoGrpcType;
      client = new proto.criu_agent.v1.CheckpointAgent(address, this.credentials, { 'grpc.max_receive_message_length': 1 << 24 });
      this.clients.set(address, client);
    }
    const call = client.ReceiveMigration();
    const iterator = (call as AsyncIterable<MigrationReply__Output>)[Symbol.asyncIterator]();
    let cancelled = false;
    // The caller's cancel or deadline ends the session: the destination then undoes what it did.
    signal?.addEventListener('abort', () => call.cancel(), { once: true });
    return {
      send: async (step: MigrationStep) => {
        if (cancelled) throw new AgentError('cancelled', 'the migration call was abandoned');
        if (!call.write(step)) {
          await new Promise<void>((resolve, reject) => {
            const onDrain = (): void => {
              call.off('error', onError);
              resolve();
            };
            const onError = (err: grpc.ServiceError): void => {
              call.off('drain', onDrain);
              reject(peerError(address, err));
            };
            call.once('drain', onDrain);
            call.once('error', onError);
          });
        }
      },
      receive: async () => {
        try {
          const r = await iterator.next();
          return r.done ? null : r.value;
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          throw peerError(address, err as grpc.ServiceError);
        }
      },
      end: () => call.end(),
      cancel: () => {
        cancelled = true;
        call.cancel();
      },
    };
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}
