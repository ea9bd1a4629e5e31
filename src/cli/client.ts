import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { ProtoGrpcType } from '../generated/agent';
import type { CheckpointAgentClient } from '../generated/criu_agent/v1/CheckpointAgent';
import type { CheckpointChunk, CheckpointChunk__Output } from '../generated/criu_agent/v1/CheckpointChunk';
import { loadAgentPackageDefinition, loaderOptions } from '../proto';
import { REQUEST_ID_KEY } from '../server/unary';
import { UsageError, str, type FlagSpec, type FlagValues } from './args';
import { clientTlsCredentials, dropIpServerNameWarning, type ClientTlsFiles, type TlsSetting } from '../tlsClient';

/** Where the CLI finds the agent unless --address or CRIU_AGENT_ADDRESS says otherwise (the agent's default --listen). */
export const DEFAULT_ADDRESS = 'unix:/run/criu-agent/agent.sock';

/** `unix:/path`, a bare absolute path (taken as a unix socket) or `host:port`, as a gRPC target. */
export function resolveAddress(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const given = flag ?? (env.CRIU_AGENT_ADDRESS || undefined) ?? DEFAULT_ADDRESS;
  if (given.startsWith('/')) return `unix:${given}`;
  if (given.startsWith('unix:') || /^(\[[^\]]+\]|[^:/]+):\d+$/.test(given)) return given;
  throw new UsageError(`--address ${JSON.stringify(given)} is neither unix:/path nor host:port`);
}

/** The flags that say which agent to dial and how: every command talking to the agent takes them. */
export const CONNECTION_FLAGS: FlagSpec = {
  address: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-server-name': { type: 'string' },
};

export const CONNECTION_FLAGS_HELP = `  --address ADDR     the agent: unix:/path or host:port; default $CRIU_AGENT_ADDRESS, else ${DEFAULT_ADDRESS}
  --tls-ca FILE      TLS: verify the agent's certificate with these CAs (PEM); default $CRIU_AGENT_CLIENT_TLS_CA, else the system's roots
  --tls-cert FILE, --tls-key FILE   TLS: this client's certificate and key (PEM), for mTLS; default $CRIU_AGENT_CLIENT_TLS_CERT, $CRIU_AGENT_CLIENT_TLS_KEY
  --tls-server-name NAME   TLS: the name the agent's certificate carries, when ADDR is an IP; default $CRIU_AGENT_CLIENT_TLS_SERVER_NAME
                     (any --tls-* option or variable connects over TLS, to a host:port ADDR)`;

export type { TlsSetting };

/**
 * TLS to the agent; any setting present means TLS. ca: PEM CA certificates the
 * agent's certificate must chain to (absent: the system's roots); cert and
 * key: the client certificate and its key, for an agent requiring client
 * certificates (mTLS), both or neither.
 */
export interface ClientTlsOptions extends ClientTlsFiles {
  /** The name the agent's certificate must carry, instead of the host dialed. */
  readonly serverName?: TlsSetting;
}

/** Which agent to dial, and over TLS or not. */
export interface AgentTarget {
  readonly address: string;
  readonly tls?: ClientTlsOptions;
}

/** Flag and environment variable of each TLS setting. Not CRIU_AGENT_TLS_*: those are the agent's own (serve). */
const TLS_SETTINGS: Record<keyof ClientTlsOptions, { flag: string; env: string }> = {
  ca: { flag: 'tls-ca', env: 'CRIU_AGENT_CLIENT_TLS_CA' },
  cert: { flag: 'tls-cert', env: 'CRIU_AGENT_CLIENT_TLS_CERT' },
  key: { flag: 'tls-key', env: 'CRIU_AGENT_CLIENT_TLS_KEY' },
  serverName: { flag: 'tls-server-name', env: 'CRIU_AGENT_CLIENT_TLS_SERVER_NAME' },
};

/** The agent to dial from CONNECTION_FLAGS and the environment (flags win); throws a UsageError for a combination that cannot work. */
export function resolveTarget(values: FlagValues, env: NodeJS.ProcessEnv): AgentTarget {
  const address = resolveAddress(str(values, 'address'), env);
  const tls: { -readonly [K in keyof ClientTlsOptions]: TlsSetting } = {};
  for (const [key, { flag, env: name }] of Object.entries(TLS_SETTINGS) as [keyof ClientTlsOptions, { flag: string; env: string }][]) {
    const fromFlag = str(values, flag);
    const fromEnv = env[name] || undefined;
    if (fromFlag !== undefined) tls[key] = { value: fromFlag, from: `--${flag}` };
    else if (fromEnv !== undefined) tls[key] = { value: fromEnv, from: `environment variable ${name}` };
  }
  const first = Object.values(tls)[0];
  if (!first) return { address };
  if (address.startsWith('unix:')) {
    throw new UsageError(`${first.from} asks for TLS, but the agent's address is ${address}: TLS applies to host:port addresses; the unix socket is protected by its file mode`);
  }
  if (tls.cert && !tls.key) throw new UsageError(`${tls.cert.from} needs --tls-key FILE (or ${TLS_SETTINGS.key.env}) too: the client certificate's private key`);
  if (tls.key && !tls.cert) throw new UsageError(`${tls.key.from} needs --tls-cert FILE (or ${TLS_SETTINGS.cert.env}) too: the certificate of that key`);
  return { address, tls };
}

/**
 * The credentials and channel options of a connection to `target`: insecure
 * without TLS settings, else TLS with the files read now, so that a missing or
 * unusable file is a UsageError naming it before anything is sent.
 */
export function clientCredentials(target: AgentTarget): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  const tls = target.tls;
  if (!tls) return { credentials: grpc.credentials.createInsecure(), options: {} };
  const credentials = clientTlsCredentials(tls, (message) => new UsageError(message));
  const name = tls.serverName?.value;
  if (name === undefined) {
    if (isIP(hostOf(target.address))) dropIpServerNameWarning();
    return { credentials, options: {} };
  }
  return { credentials, options: { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name } };
}

/** The host of a host:port address, without an IPv6 address's brackets. */
export function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
}

export type AgentMethod =
  | 'Dump'
  | 'PreDump'
  | 'Restore'
  | 'Continue'
  | 'Check'
  | 'ListCheckpoints'
  | 'GetCheckpoint'
  | 'DeleteCheckpoint'
  | 'PushCheckpoint'
  | 'PullCheckpoint';

export interface CallOptions {
  /** Milliseconds; undefined: no deadline. */
  timeoutMs?: number;
  /**
   * Sent as x-request-id; unaryCall makes one up otherwise, so that a call
   * that ends without the agent's answer (a deadline, no connection) can still
   * name the id the agent logged it under.
   */
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
    /** The agent answered (its trailers carry the request id); false: the call may never have reached it. */
    readonly answered = requestId !== undefined,
  ) {
    super(error.message, { cause: error });
  }
}

export class AgentConnection {
  private readonly client: CheckpointAgentClient;
  private readonly channel: { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions };
  private health?: grpc.Client;

  /** Throws a UsageError when a TLS file is missing or unusable; nothing is sent before the first call. */
  constructor(readonly target: AgentTarget) {
    this.channel = clientCredentials(target);
    const proto = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as ProtoGrpcType;
    this.client = new proto.criu_agent.v1.CheckpointAgent(target.address, this.channel.credentials, this.channel.options);
  }

  /** One unary call; resolves with the reply and the agent's request id, rejects with a CallFailure. */
  call<Res>(method: AgentMethod, request: object, opts: CallOptions = {}): Promise<{ reply: Res; requestId?: string }> {
    return unaryCall<Res>(this.client, method, request, opts);
  }

  /**
   * ExportCheckpoint: hands each chunk to `sink` (awaited: a slow sink slows
   * the agent down); resolves once the agent ended the stream with OK.
   */
  exportCheckpoint(request: object, sink: (chunk: CheckpointChunk__Output) => Promise<void>, opts: CallOptions = {}): Promise<{ requestId?: string }> {
    const call = this.client.ExportCheckpoint(request, metadataOf(opts).md, callOptionsOf(opts));
    return new Promise((resolve, reject) => {
      let requestId: string | undefined;
      let failed = false;
      let pending = Promise.resolve();
      const onAbort = (): void => call.cancel();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      call.on('data', (chunk: CheckpointChunk__Output) => {
        call.pause();
        pending = pending
          .then(() => sink(chunk))
          .then(
            () => void call.resume(),
            (err: unknown) => {
              failed = true;
              call.cancel();
              reject(err instanceof Error ? err : new Error(String(err)));
            },
          );
      });
      call.on('error', (err: grpc.ServiceError) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (!failed) reject(new CallFailure(err, idOf(err.metadata)));
      });
      // grpc-js may report the status while chunks still wait in the paused stream: done only once it ended too.
      let statusOk = false;
      let ended = false;
      const finish = (): void => {
        if (!statusOk || !ended) return;
        opts.signal?.removeEventListener('abort', onAbort);
        void pending.then(() => {
          if (!failed) resolve({ requestId });
        });
      };
      call.on('status', (s: grpc.StatusObject) => {
        requestId = idOf(s.metadata);
        statusOk = s.code === grpc.status.OK;
        finish();
      });
      call.on('end', () => {
        ended = true;
        finish();
      });
    });
  }

  /** A server-streaming call (Migrate): hands each message to `onMessage`; resolves once the agent ended the call with OK. */
  serverStream<Res>(method: 'Migrate', request: object, onMessage: (m: Res) => void, opts: CallOptions = {}): Promise<{ requestId?: string }> {
    const fn = (this.client[method] as unknown as (req: object, md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<Res>).bind(this.client);
    const call = fn(request, metadataOf(opts).md, callOptionsOf(opts));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => call.cancel();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      let ended = false;
      let status: grpc.StatusObject | undefined;
      const finish = (): void => {
        if (!ended || !status) return;
        opts.signal?.removeEventListener('abort', onAbort);
        resolve({ requestId: idOf(status.metadata) });
      };
      call.on('data', onMessage);
      call.on('error', (err: grpc.ServiceError) => {
        opts.signal?.removeEventListener('abort', onAbort);
        reject(new CallFailure(err, idOf(err.metadata)));
      });
      call.on('status', (s: grpc.StatusObject) => {
        if (s.code !== grpc.status.OK) return;
        status = s;
        finish();
      });
      call.on('end', () => {
        ended = true;
        finish();
      });
    });
  }

  /** ImportCheckpoint: sends every chunk of `source` (with the stream's flow control), then half-closes; resolves with the agent's reply. */
  async importCheckpoint<Res>(source: AsyncIterable<CheckpointChunk>, opts: CallOptions = {}): Promise<{ reply: Res; requestId?: string }> {
    const { md, sentId } = metadataOf(opts);
    let call!: grpc.ClientWritableStream<CheckpointChunk>;
    const done = replyOf<Res>(sentId, (cb) => (call = this.client.ImportCheckpoint(md, callOptionsOf(opts), cb)));
    const onAbort = (): void => call.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    // A source that fails (a damaged file) cancels the call, so the agent keeps nothing; its error is the one reported.
    // The agent may also answer before the source is through (a refusal): sending stops there.
    let sourceError: unknown;
    let answered = false;
    const ended = done.then(
      () => undefined,
      () => undefined,
    );
    void (async (): Promise<void> => {
      try {
        for await (const chunk of source) {
          if (answered) return;
          if (!call.write(chunk)) await Promise.race([new Promise<void>((r) => call.once('drain', () => r())), ended]);
        }
        call.end();
      } catch (err) {
        sourceError = err;
        call.cancel();
      }
    })();
    try {
      return await done;
    } catch (err) {
      throw sourceError ?? err;
    } finally {
      answered = true;
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** grpc.health.v1.Health/Check of `service` ("" for the whole server). */
  healthCheck(service: string, opts: CallOptions = {}): Promise<{ reply: { status: string }; requestId?: string }> {
    if (!this.health) {
      const def = protoLoader.loadSync(healthProtoPath, loaderOptions);
      const Health = grpc.makeGenericClientConstructor(def['grpc.health.v1.Health'] as grpc.ServiceDefinition, 'Health');
      this.health = new Health(this.target.address, this.channel.credentials, this.channel.options);
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
  const { md, sentId } = metadataOf(opts);
  let call!: grpc.ClientUnaryCall;
  const onAbort = (): void => call.cancel();
  const reply = replyOf<Res>(sentId, (cb) => (call = fn(request, md, callOptionsOf(opts), cb)));
  if (opts.signal?.aborted) call.cancel();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const done = (): void => opts.signal?.removeEventListener('abort', onAbort);
  reply.then(done, done);
  return reply;
}

/**
 * The reply of a call with one answer: its callback and its trailers (the
 * 'status' event) come in either order, and the agent's request id (its own
 * if it refused ours) is in the trailers; without an answer, the one sent.
 */
function replyOf<Res>(
  sentId: string,
  start: (cb: (err: grpc.ServiceError | null, res?: unknown) => void) => grpc.ClientUnaryCall | grpc.ClientWritableStream<never>,
): Promise<{ reply: Res; requestId?: string }> {
  return new Promise((resolve, reject) => {
    let trailerId: string | undefined;
    let result: { err: grpc.ServiceError | null; res?: unknown } | undefined;
    let statusSeen = false;
    const settle = (): void => {
      if (!result || !statusSeen) return;
      const agentId = trailerId ?? idOf(result.err?.metadata);
      const requestId = agentId ?? sentId;
      if (result.err) reject(new CallFailure(result.err, requestId, agentId !== undefined));
      else resolve({ reply: result.res as Res, requestId });
    };
    const call = start((err, res) => {
      result = { err, res };
      settle();
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailerId = idOf(s.metadata);
      statusSeen = true;
      settle();
    });
  });
}

/** A request id of the CLI's own, e.g. "cli-3f9a1c0b" (the agent takes ids of [A-Za-z0-9._-]). */
export function newClientRequestId(): string {
  return `cli-${randomBytes(4).toString('hex')}`;
}

/** Every call carries a request id: the caller's, else one of the CLI's own, so a failure can always name it. */
function metadataOf(opts: CallOptions): { md: grpc.Metadata; sentId: string } {
  const md = new grpc.Metadata();
  const sentId = opts.requestId ?? newClientRequestId();
  md.set(REQUEST_ID_KEY, sentId);
  return { md, sentId };
}

function callOptionsOf(opts: CallOptions): grpc.CallOptions {
  return opts.timeoutMs !== undefined ? { deadline: Date.now() + opts.timeoutMs } : {};
}

function idOf(md: grpc.Metadata | undefined): string | undefined {
  const v = md?.get(REQUEST_ID_KEY)[0];
  return typeof v === 'string' ? v : undefined;
}

export function isCallFailure(v: unknown): v is CallFailure {
  return v instanceof CallFailure;
}
