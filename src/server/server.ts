import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { AgentConfig } from '../config';
import type { ProtoGrpcType } from '../generated/agent';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import { loadAgentPackageDefinition } from '../proto';
import type { Services } from '../service';
import { agentHandlers } from './handlers';
import { auditInterceptor } from './audit';
import { UNIX_IDENTITY } from '../policy';
import { authzInterceptor, PolicySource, type Transports } from './authz';
import { bindListeners, type BoundListener } from './listeners';
import { AgentMetrics, startMetricsServer, type MetricsServer } from './metrics';
import { addReflection } from './reflection';
import { ReloadingTlsCredentials } from './tls';
import { DEFAULTS } from '../config';

export const AGENT_SERVICE = 'criu_agent.v1.CheckpointAgent';
const HEALTH_INTERVAL_MS = 30_000;

export interface RunningServer {
  /** The addresses callers use, in --listen order, e.g. "unix:/run/criu-agent/agent.sock", "0.0.0.0:50051" (the bound port). */
  readonly addresses: readonly string[];
  /** Where Prometheus scrapes the metrics, e.g. "http://127.0.0.1:9464/metrics"; undefined when --metrics-listen is off. */
  readonly metricsUrl?: string;
  /** Stops accepting calls and waits for calls in flight (force after graceMs). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * gRPC wiring only: the agent's service, grpc.health.v1 (SERVING only while
 * CRIU answers) and server reflection, bound to the configured listeners; and,
 * with --metrics-listen, the Prometheus metrics (measured by an interceptor)
 * on an HTTP listener of their own.
 */
export async function startServer(config: AgentConfig, services: Services, log: Logger): Promise<RunningServer> {
  const agentDef = loadAgentPackageDefinition();
  const proto = grpc.loadPackageDefinition(agentDef) as unknown as ProtoGrpcType;
  const metrics = config.metricsListen ? new AgentMetrics() : undefined;
  const policy = new PolicySource(config.policyFile, config.policy, log);
  const transports: Transports = {
    tcp: config.tls ? 'tls' : 'loopback',
    // A getter: a reloaded policy may rename the unix socket's identity.
    get unixIdentity() {
      return policy.current()?.unixIdentity ?? UNIX_IDENTITY;
    },
  };
  // grpc-js runs the first interceptor nearest the transport: metrics and the
  // audit see every call, also those the authorization refuses.
  const interceptors = [
    ...(metrics ? [metrics.interceptor()] : []),
    auditInterceptor({ transports, log }),
    authzInterceptor({
      policy: () => policy.current(),
      transports,
      maxCallsPerClient: config.maxCallsPerClient ?? DEFAULTS.maxCallsPerClient,
      log,
    }),
  ];
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 1 << 20, interceptors });
  server.addService(proto.criu_agent.v1.CheckpointAgent.service, agentHandlers(services, log));

  const health = new HealthImplementation({ '': 'NOT_SERVING', [AGENT_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  addReflection(server);

  let metricsServer: MetricsServer | undefined;
  let tls: ReloadingTlsCredentials | undefined;
  let listeners: BoundListener[];
  try {
    // The metrics listener first: failing to bind it must not leave a gRPC listener behind.
    if (metrics && config.metricsListen) metricsServer = await startMetricsServer(config.metricsListen, metrics, log);
    if (config.tls) tls = ReloadingTlsCredentials.create(config.tls, log);
    listeners = await bindListeners(server, config, tls ?? grpc.ServerCredentials.createInsecure(), log);
  } catch (err) {
    tls?.close();
    policy.close();
    await metricsServer?.close();
    server.forceShutdown();
    throw err;
  }
  const addresses = listeners.map((l) => l.address);
  log.info(
    {
      addresses,
      stateDir: config.stateDir,
      criu: services.check.description,
      ...(metricsServer ? { metrics: metricsServer.url } : {}),
      tcp: config.listeners.some((l) => l.kind === 'tcp')
        ? config.tls
          ? config.tls.clientCa
            ? 'mtls'
            : 'tls'
          : 'loopback plaintext'
        : 'none',
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
    addresses,
    metricsUrl: metricsServer?.url,
    stop: async (graceMs = 10_000) => {
      clearInterval(timer);
      await Promise.all(listeners.map((l) => l.close()));
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
      policy.close();
      await metricsServer?.close();
    },
  };
}
