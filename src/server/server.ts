import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { AgentConfig } from '../config';
import type { ProtoGrpcType } from '../generated/agent';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import { loadAgentPackageDefinition, loaderOptions } from '../proto';
import type { Services } from '../service';
import { agentHandlers } from './handlers';
import { auditInterceptor } from './audit';
import { authzInterceptor, UNIX_IDENTITY, type ListenerKind } from './authz';
import { AgentMetrics, startMetricsServer, type MetricsServer } from './metrics';
import { reflectionPackageDefinition } from './reflection';
import { ReloadingTlsCredentials } from './tls';
import { DEFAULTS } from '../config';

export const AGENT_SERVICE = 'criu_agent.v1.CheckpointAgent';
const HEALTH_INTERVAL_MS = 30_000;

export interface RunningServer {
  /** The address callers use, e.g. "unix:/run/criu-agent/agent.sock" or "127.0.0.1:50051" with the bound port. */
  readonly address: string;
  /** Where Prometheus scrapes the metrics, e.g. "http://127.0.0.1:9464/metrics"; undefined when --metrics-listen is off. */
  readonly metricsUrl?: string;
  /** Stops accepting calls and waits for calls in flight (force after graceMs). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * gRPC wiring only: the agent's service, grpc.health.v1 (SERVING only while
 * CRIU answers) and server reflection, bound to the configured listener; and,
 * with --metrics-listen, the Prometheus metrics (measured by an interceptor)
 * on an HTTP listener of their own.
 */
export async function startServer(config: AgentConfig, services: Services, log: Logger): Promise<RunningServer> {
  const agentDef = loadAgentPackageDefinition();
  const proto = grpc.loadPackageDefinition(agentDef) as unknown as ProtoGrpcType;
  const metrics = config.metricsListen ? new AgentMetrics() : undefined;
  const listener: ListenerKind = config.listen.kind === 'unix' ? 'unix' : config.tls ? 'tls' : 'loopback';
  const unixIdentity = config.policy?.unixIdentity ?? UNIX_IDENTITY;
  // grpc-js runs the first interceptor nearest the transport: metrics and the
  // audit see every call, also those the authorization refuses.
  const interceptors = [
    ...(metrics ? [metrics.interceptor()] : []),
    auditInterceptor({ listener, unixIdentity, log }),
    authzInterceptor({ policy: config.policy, listener, maxCallsPerClient: config.maxCallsPerClient ?? DEFAULTS.maxCallsPerClient, log }),
  ];
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 1 << 20, interceptors });
  server.addService(proto.criu_agent.v1.CheckpointAgent.service, agentHandlers(services, log));

  const health = new HealthImplementation({ '': 'NOT_SERVING', [AGENT_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  const healthDef = protoLoader.loadSync(healthProtoPath, loaderOptions);
  new ReflectionService(reflectionPackageDefinition(agentDef, healthDef)).addToServer(server);

  let metricsServer: MetricsServer | undefined;
  let tls: ReloadingTlsCredentials | undefined;
  let address: string;
  try {
    // The metrics listener first: failing to bind it must not leave a gRPC listener behind.
    if (metrics && config.metricsListen) metricsServer = await startMetricsServer(config.metricsListen, metrics, log);
    if (config.tls) tls = ReloadingTlsCredentials.create(config.tls, log);
    address = await bind(server, config, tls ?? grpc.ServerCredentials.createInsecure());
  } catch (err) {
    tls?.close();
    await metricsServer?.close();
    server.forceShutdown();
    throw err;
  }
  log.info(
    {
      address,
      stateDir: config.stateDir,
      criu: services.check.description,
      ...(metricsServer ? { metrics: metricsServer.url } : {}),
      security: listener === 'tls' ? (config.tls?.clientCa ? 'mtls' : 'tls') : listener,
      policy: config.policyFile ?? 'default',
    },
    'criu-agent listening',
  );

  const probe = async (): Promise<void> => {
    try {
      const r = await services.check.check(AbortSignal.timeout(10_000));
      health.setStatus('', 'SERVING');
      health.setStatus(AGENT_SERVICE, 'SERVING');
      metrics?.criuAnswered(r.criuVersion, r.criuTransport);
      log.debug({ criu: r.criuVersion }, 'CRIU answers');
    } catch (err) {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(AGENT_SERVICE, 'NOT_SERVING');
      metrics?.criuFailed();
      log.error({ error: errorMessage(err) }, 'CRIU does not answer: health is NOT_SERVING');
    }
  };
  await probe();
  const timer = setInterval(() => void probe(), HEALTH_INTERVAL_MS);
  timer.unref();

  return {
    address,
    metricsUrl: metricsServer?.url,
    stop: async (graceMs = 10_000) => {
      clearInterval(timer);
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      tls?.close();
      if (config.listen.kind === 'unix') await fsp.rm(config.listen.path, { force: true });
      await metricsServer?.close();
    },
  };
}

async function bind(server: grpc.Server, config: AgentConfig, credentials: grpc.ServerCredentials): Promise<string> {
  const listen = config.listen;
  let target: string;
  if (listen.kind === 'unix') {
    await fsp.mkdir(path.dirname(listen.path), { recursive: true, mode: 0o755 });
    // A socket file left by a previous agent that died would make bind fail.
    await fsp.rm(listen.path, { force: true });
    target = `unix:${listen.path}`;
  } else {
    target = `${listen.host}:${listen.port}`;
  }
  // The unix socket is created with the umask's mode; tighten the umask for
  // the bind so there is no window in which others can connect.
  const oldUmask = listen.kind === 'unix' ? process.umask(0o177) : undefined;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(target, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
  } finally {
    if (oldUmask !== undefined) process.umask(oldUmask);
  }
  if (listen.kind === 'unix') {
    // Group first, then the mode: the socket is never open to a group it is not meant for.
    if (config.socketGroup) await fsp.chown(listen.path, -1, config.socketGroup.gid);
    await fsp.chmod(listen.path, config.socketMode);
    return target;
  }
  return `${listen.host}:${port}`;
}
