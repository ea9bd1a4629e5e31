import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { ProtoGrpcType } from '../generated/agent';
import type { CheckpointAgentClient } from '../generated/criu_agent/v1/CheckpointAgent';
import { loadAgentPackageDefinition, loaderOptions } from '../proto';
import { REQUEST_ID_KEY } from '../server/unary';
import { UsageError } from './args';

/** Where the CLI finds the agent unless --address or CRIU_AGENT_ADDRESS says otherwise (the agent's default --listen). */
export const DEFAULT_ADDRESS = 'unix:/run/criu-agent/agent.sock';

/** `unix:/path`, a bare absolute path (taken as a unix socket) or `host:port`, as a gRPC target. */
export function resolveAddress(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const given = flag ?? (env.CRIU_AGENT_ADDRESS || undefined) ?? DEFAULT_ADDRESS;
  if (given.startsWith('/')) return `unix:${given}`;
  if (given.startsWith('unix:') || /^(\[[^\]]+\]|[^:/]+):\d+$/.test(given)) return given;
  throw new UsageError(`--address ${JSON.stringify(given)} is neither unix:/path nor host:port`);
}

export type AgentMethod = 'Dump' | 'PreDump' | 'Restore' | 'Continue' | 'Check' | 'ListCheckpoints' | 'GetCheckpoint' | 'DeleteCheckpoint';

export interface CallOptions {
  /** Milliseconds; undefined: no deadline. */
  timeoutMs?: number;
  /** Sent as x-request-id; the agent makes one up otherwise. */
  requestId?: string;
  /** Aborting cancels the call (the agent then stops CRIU and leaves the tree running). */
  signal?: AbortSignal;
}

/** A failed call: the gRPC error and the request id the agent gave it. */
export class CallFailure extends Error {
  override name = 'CallFailure';
  constructor(
    readonly error: grpc.ServiceError,
    readonly requestId?: string,
  ) {
    super(error.message, { cause: error });
  }
}

export class AgentConnection {
  private readonly client: CheckpointAgentClient;
  private health?: grpc.Client;

  constructor(readonly address: string) {
    const proto = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as ProtoGrpcType;
    this.client = new proto.criu_agent.v1.CheckpointAgent(address, grpc.credentials.createInsecure());
  }

  /** One unary call; resolves with the reply and the agent's request id, rejects with a CallFailure. */
  call<Res>(method: AgentMethod, request: object, opts: CallOptions = {}): Promise<{ reply: Res; requestId?: string }> {
    return unaryCall<Res>(this.client, method, request, opts);
  }

  /** grpc.health.v1.Health/Check of `service` ("" for the whole server). */
  healthCheck(service: string, opts: CallOptions = {}): Promise<{ reply: { status: string }; requestId?: string }> {
    if (!this.health) {
      const def = protoLoader.loadSync(healthProtoPath, loaderOptions);
      const Health = grpc.makeGenericClientConstructor(def['grpc.health.v1.Health'] as grpc.ServiceDefinition, 'Health');
      this.health = new Health(this.address, grpc.credentials.createInsecure());
    }
    return unaryCall<{ status: string }>(this.health, 'Check', { service }, opts);
  }

  close(): void {
    this.client.close();
    this.health?.close();
  }
}

type UnaryFn = (
  req: object,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: unknown) => void,
) => grpc.ClientUnaryCall;

function unaryCall<Res>(
  client: grpc.Client,
  method: string,
  request: object,
  opts: CallOptions,
): Promise<{ reply: Res; requestId?: string }> {
  const fn = (client as unknown as Record<string, UnaryFn>)[method]?.bind(client);
  if (!fn) throw new Error(`the client has no method ${method}`);
  const md = new grpc.Metadata();
  if (opts.requestId) md.set(REQUEST_ID_KEY, opts.requestId);
  const callOpts: grpc.CallOptions = opts.timeoutMs !== undefined ? { deadline: Date.now() + opts.timeoutMs } : {};
  return new Promise((resolve, reject) => {
    let trailerId: string | undefined;
    let result: { err: grpc.ServiceError | null; res?: unknown } | undefined;
    let statusSeen = false;
    // The callback and the 'status' event (the trailers) come in either order.
    const settle = (): void => {
      if (!result || !statusSeen) return;
      opts.signal?.removeEventListener('abort', onAbort);
      const requestId = trailerId ?? idOf(result.err?.metadata);
      if (result.err) reject(new CallFailure(result.err, requestId));
      else resolve({ reply: result.res as Res, requestId });
    };
    const call = fn(request, md, callOpts, (err, res) => {
      result = { err, res };
      settle();
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailerId = idOf(s.metadata);
      statusSeen = true;
      settle();
    });
    const onAbort = (): void => call.cancel();
    if (opts.signal?.aborted) call.cancel();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function idOf(md: grpc.Metadata | undefined): string | undefined {
  const v = md?.get(REQUEST_ID_KEY)[0];
  return typeof v === 'string' ? v : undefined;
}

export function isCallFailure(v: unknown): v is CallFailure {
  return v instanceof CallFailure;
}
