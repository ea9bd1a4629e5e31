import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import { readPolicyFile, type Policy } from '../policy';
import { isUnixConnection, unixPeerOf } from './listeners';
import { REQUEST_ID_KEY, requestIdOf } from './unary';
import { watchFiles } from './watch';

/** The service the policy applies to; grpc.health.v1 and reflection stay open to every client that can connect. */
export const AGENT_METHOD_PREFIX = '/criu_agent.v1.CheckpointAgent/';

/** The RPCs whose requests are a stream (their handler starts before the first message). */
const STREAMING_REQUESTS: ReadonlySet<string> = new Set(['ImportCheckpoint', 'ReceiveMigration']);

/** Identities of clients without a certificate. */
export const LOOPBACK_IDENTITY = 'loopback';
export const ANONYMOUS_IDENTITY = 'anonymous';

/**
 * The policy in force: the --policy file as loaded at start, then its latest
 * valid content whenever the file changes, so that bindings can change (a
 * ConfigMap update, an edited file) without restarting the agent, which under
 * Kubernetes would kill the trees it restored. A change that does not parse
 * or validate is logged and the previous policy stays.
 */
export class PolicySource {
  private policy: Policy | undefined;
  private readonly unwatch?: () => void;

  constructor(file: string | undefined, initial: Policy | undefined, log: Logger) {
    this.policy = initial;
    if (file === undefined) return;
    this.unwatch = watchFiles([file], () => {
      try {
        this.policy = readPolicyFile(file);
        log.info({ policy: file, roles: Object.keys(this.policy.roles), bindings: this.policy.bindings.length }, 'policy reloaded');
      } catch (err) {
        log.warn({ policy: file, error: errorMessage(err) }, 'policy file changed but is not a valid policy; keeping the previous one');
      }
    });
  }

  /** undefined: no --policy, the built-in default. */
  current(): Policy | undefined {
    return this.policy;
  }

  close(): void {
    this.unwatch?.();
  }
}

/** Who a call comes from: every name it may be bound by, the first one being the one logged. */
export interface ClientIdentity {
  readonly names: readonly string[];
  /** Its TLS client certificate was verified against --tls-client-ca. */
  readonly verified: boolean;
}

/** How the agent's connections identify their clients. */
export interface Transports {
  /** Every TCP listener is TLS, or (without TLS configured) plaintext on loopback. */
  readonly tcp: 'tls' | 'loopback';
  /** The name every unix socket client has besides its uid. */
  readonly unixIdentity: string;
}

/** A client's identity from the call's connection: a unix socket peer, a TLS client certificate, or what the listener implies. */
export function identityOf(call: grpc.ServerInterceptingCallInterface, transports: Transports): ClientIdentity {
  const info = call.getConnectionInfo();
  if (isUnixConnection(info)) {
    const peer = unixPeerOf(info);
    return { names: peer ? [`uid:${peer.uid}`, transports.unixIdentity] : [transports.unixIdentity], verified: false };
  }
  if (transports.tcp === 'loopback') return { names: [LOOPBACK_IDENTITY], verified: false };
  // grpc-js gives the certificate only when the TLS handshake verified it.
  const cert = call.getAuthContext().sslPeerCertificate;
  // A certificate may not claim a name the transport gives (CN=unix, URI:uid:0): bindings of
  // those names are for local callers; a certificate with no other name is anonymous.
  const names = cert ? certificateNames(cert).filter((n) => !isTransportName(n, transports)) : [];
  return names.length > 0 ? { names, verified: true } : { names: [ANONYMOUS_IDENTITY], verified: false };
}

/** The names only a connection's transport gives: uid:N and the unixIdentity (unix socket), loopback, anonymous. */
export function isTransportName(name: string, transports: Transports): boolean {
  return name === transports.unixIdentity || name === LOOPBACK_IDENTITY || name === ANONYMOUS_IDENTITY || /^uid:/.test(name);
}

/** URI SANs (e.g. spiffe://...), then DNS and email SANs, then the subject CN. */
export function certificateNames(cert: Pick<PeerCertificate, 'subjectaltname' | 'subject'>): string[] {
  const sans = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .map((s) => /^(URI|DNS|email):(.+)$/.exec(s.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ kind: m[1] ?? '', value: m[2] ?? '' }));
  const order = ['URI', 'DNS', 'email'];
  const names = order.flatMap((k) => sans.filter((s) => s.kind === k).map((s) => s.value));
  const cn = (cert.subject as Record<string, string | string[] | undefined> | undefined)?.CN;
  for (const c of Array.isArray(cn) ? cn : cn ? [cn] : []) names.push(c);
  return [...new Set(names)];
}

/**
 * The RPCs a call needs the right to: its own, and for a Restore by
 * image_reference also PullCheckpoint (it writes a checkpoint into the store
 * from a registry, which a client allowed to restore only must not do).
 */
export function methodsRequired(method: string, request: unknown): string[] {
  const ref = (request as { image_reference?: unknown } | null | undefined)?.image_reference;
  return method === 'Restore' && typeof ref === 'string' && ref !== '' ? [method, 'PullCheckpoint'] : [method];
}

/** The decision for one call: allowed, or the sentence of the PERMISSION_DENIED. */
export type Decision = { ok: true } | { ok: false; reason: string };

/**
 * The policy's answer; without a policy file: the unix socket (its file mode
 * is the control), plaintext loopback TCP (as before: only this node can
 * reach it) and verified client certificates (the client CA is the control)
 * may call everything, a TLS client without a certificate nothing.
 */
export function authorize(policy: Policy | undefined, who: ClientIdentity, method: string): Decision {
  const name = who.names[0] ?? ANONYMOUS_IDENTITY;
  if (!policy) {
    if (who.verified || name !== ANONYMOUS_IDENTITY) return { ok: true };
    return {
      ok: false,
      reason: `identity ${name} may not call ${method}: the agent asks TLS clients for a certificate (--tls-client-ca) or a --policy that binds "${ANONYMOUS_IDENTITY}"`,
    };
  }
  const allowed = new Set<string>();
  for (const b of policy.bindings) {
    if (!who.names.includes(b.identity)) continue;
    for (const m of policy.roles[b.role] ?? []) allowed.add(m);
  }
  if (allowed.has('*') || allowed.has(method)) return { ok: true };
  const list = allowed.size > 0 ? [...allowed].sort().join(', ') : 'nothing (no binding names this identity)';
  return { ok: false, reason: `identity ${name} may not call ${method}; allowed: ${list}` };
}

export interface AuthzOptions {
  /** The policy in force at the time of a call. */
  policy: () => Policy | undefined;
  transports: Transports;
  /** Calls one identity may have in flight at once. */
  maxCallsPerClient: number;
  log: Logger;
}

/**
 * The one place calls of criu_agent.v1.CheckpointAgent are authorized and
 * limited per client: a grpc-js server interceptor that answers
 * PERMISSION_DENIED (or RESOURCE_EXHAUSTED past --max-calls-per-client)
 * once the request arrived, before the handler starts. A call counts against its client until its
 * handler answers (a cancelled call whose CRIU run is being stopped still
 * counts), like the in-flight metric.
 */
export function authzInterceptor(opts: AuthzOptions): grpc.ServerInterceptor {
  const inFlight = new Map<string, number>();
  const log = opts.log.child({ authz: true });
  return (descriptor, call) => {
    if (!descriptor.path.startsWith(AGENT_METHOD_PREFIX)) return new grpc.ServerInterceptingCall(call);
    const method = descriptor.path.slice(AGENT_METHOD_PREFIX.length);
    const who = identityOf(call, opts.transports);
    const name = who.names[0] ?? ANONYMOUS_IDENTITY;
    let counted = false;
    let handlerStarted = false;
    let replied = false;
    let cancelled = false;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      const n = (inFlight.get(name) ?? 1) - 1;
      if (n <= 0) inFlight.delete(name);
      else inFlight.set(name, n);
    };
    let metadata: grpc.Metadata | undefined;
    let decided: boolean | undefined;
    /** Authorizes and counts the call once, when its request arrives; false: refused (and answered). */
    const admit = (message?: unknown): boolean => {
      if (decided !== undefined) return decided;
      // A refused call never reaches the handler that gives calls their id: give it one here, so
      // that the client's error, this log line and the audit line can be matched.
      const refuse = (code: grpc.status, details: string): boolean => {
        const requestId = requestIdOf(metadata);
        log.warn({ requestId, identity: name, identities: who.names, method, peer: peerOf(call) }, details);
        const trailers = new grpc.Metadata();
        trailers.set(REQUEST_ID_KEY, requestId);
        call.sendStatus({ code, details, metadata: trailers });
        return (decided = false);
      };
      for (const m of methodsRequired(method, message)) {
        const decision = authorize(opts.policy(), who, m);
        if (!decision.ok) return refuse(grpc.status.PERMISSION_DENIED, m === method ? decision.reason : `${decision.reason} (${method} with image_reference pulls, as ${m})`);
      }
      const n = inFlight.get(name) ?? 0;
      if (n >= opts.maxCallsPerClient) {
        return refuse(
          grpc.status.RESOURCE_EXHAUSTED,
          `identity ${name} already has ${n} calls in flight (--max-calls-per-client ${opts.maxCallsPerClient}); retry when one has finished`,
        );
      }
      inFlight.set(name, n + 1);
      counted = true;
      return (decided = true);
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (md, nextMetadata) => {
            metadata = md;
            // grpc-js starts the handler of a call with a request stream once its metadata passed:
            // those are decided here, so that a refused call never reaches (and never hangs) a handler.
            if (STREAMING_REQUESTS.has(method) && !admit()) return;
            nextMetadata(md);
          },
          // Decided on the request rather than the headers: the audit interceptor outside this one has
          // then seen which tree or checkpoint a refused call was about. The handler starts only after
          // the request, so a refused call still never reaches it.
          onReceiveMessage: (message, nextMessage) => {
            if (admit(message)) nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            if (!admit()) return;
            handlerStarted = true;
            nextHalfClose();
          },
          onCancel: () => {
            cancelled = true;
            // Before its handler started, or after it replied, nothing more will end the call.
            if (!handlerStarted || replied) release();
          },
        }),
      sendMessage: (message, next) => {
        replied = true;
        // After a cancel grpc-js drops the reply and never sends its OK status.
        if (cancelled) release();
        next(message);
      },
      sendStatus: (status, next) => {
        release();
        next(status);
      },
    });
  };
}

export function peerOf(call: grpc.ServerInterceptingCallInterface): string | undefined {
  try {
    return call.getPeer();
  } catch {
    return undefined;
  }
}
