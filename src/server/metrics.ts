import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HttpAddress } from '../config';
import { errorMessage } from '../errors';
import type { Logger } from '../log';

/** The service whose calls are measured; health and reflection calls are not. */
const AGENT_METHOD_PREFIX = '/criu_agent.v1.CheckpointAgent/';

/** CRIU's pages are 4 KiB (DumpStats says so). */
const PAGE_BYTES = 4096;

/** A checkpoint takes from milliseconds (a tiny tree, a refused request) to many minutes (GiBs of memory). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** What the workload felt: tens of milliseconds for small trees, seconds for large ones without pre-dumps. */
const FROZEN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Num = number | string | { toString(): string } | null | undefined;

/** The parts of a Dump/PreDump/Check reply the metrics read (keepCase field names; uint64 arrive as strings). */
interface ObservedReply {
  stats?: { frozen_time_us?: Num; pages_written?: Num } | null;
  size_bytes?: Num;
  criu_version?: string;
  criu_transport?: string;
}

/**
 * The agent's Prometheus metrics, in a registry of its own (not prom-client's
 * global one, so that several agents in one process, as in tests, do not
 * collide).
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'method' | 'code'>;
  private readonly duration: Histogram<'method' | 'code'>;
  private readonly inFlight: Gauge<'method'>;
  private readonly frozen: Histogram<'method'>;
  private readonly bytesWritten: Counter<'method'>;
  private readonly pagesWritten: Counter<'method'>;
  private readonly criuInfo: Gauge<'version' | 'transport'>;
  private readonly criuUp: Gauge;
  private criuLabels?: { version: string; transport: string };

  constructor() {
    const registers = [this.registry];
    this.calls = new Counter({
      name: 'criu_agent_calls_total',
      help: 'Calls of criu_agent.v1.CheckpointAgent that ended, by method and gRPC status code.',
      labelNames: ['method', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'criu_agent_call_duration_seconds',
      help: 'How long calls of criu_agent.v1.CheckpointAgent took, from the request to the reply, by method and gRPC status code.',
      labelNames: ['method', 'code'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.inFlight = new Gauge({
      name: 'criu_agent_calls_in_flight',
      help: 'Calls of criu_agent.v1.CheckpointAgent being handled (including a cancelled one whose CRIU run is still being stopped).',
      labelNames: ['method'],
      registers,
    });
    this.frozen = new Histogram({
      name: 'criu_agent_frozen_time_seconds',
      help: 'How long Dump and PreDump kept the tree frozen (CRIU statistics: frozen_time).',
      labelNames: ['method'],
      buckets: FROZEN_BUCKETS,
      registers,
    });
    this.bytesWritten = new Counter({
      name: 'criu_agent_written_bytes_total',
      help: "Bytes of checkpoint files Dump and PreDump wrote (the reply's size_bytes: images, memory pages and CRIU's statistics).",
      labelNames: ['method'],
      registers,
    });
    this.pagesWritten = new Counter({
      name: 'criu_agent_pages_written_total',
      help: `Memory pages (${PAGE_BYTES} bytes) Dump and PreDump wrote (CRIU statistics: pages_written).`,
      labelNames: ['method'],
      registers,
    });
    this.criuInfo = new Gauge({
      name: 'criu_agent_criu_info',
      help: 'The CRIU the agent drives (1), by version and transport, as CRIU last reported it.',
      labelNames: ['version', 'transport'],
      registers,
    });
    this.criuUp = new Gauge({
      name: 'criu_agent_criu_up',
      help: 'Whether CRIU answered the last check (1) or not (0); grpc.health.v1 says SERVING only while it is 1.',
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** The result of a CRIU check (at start, every health probe, and each Check call). */
  criuAnswered(version: string, transport: string): void {
    if (this.criuLabels?.version !== version || this.criuLabels.transport !== transport) {
      this.criuInfo.reset();
      this.criuLabels = { version, transport };
    }
    this.criuInfo.set(this.criuLabels, 1);
    this.criuUp.set(1);
  }

  criuFailed(): void {
    this.criuUp.set(0);
  }

  /**
   * The one place calls are measured: a grpc-js server interceptor. A call is
   * in flight from its request until its handler answers, even when the
   * client cancelled before (the handler then still stops CRIU); a call whose
   * handler never started (cancelled while the request arrived, or refused by
   * grpc-js itself) ends with its cancel.
   */
  interceptor(): grpc.ServerInterceptor {
    return (descriptor, call) => {
      if (!descriptor.path.startsWith(AGENT_METHOD_PREFIX)) return new grpc.ServerInterceptingCall(call);
      const method = descriptor.path.slice(AGENT_METHOD_PREFIX.length);
      const endTimer = this.duration.startTimer({ method });
      this.inFlight.inc({ method });
      let handlerStarted = false;
      let cancelled = false;
      let done = false;
      let reply: ObservedReply | undefined;
      const finish = (code: grpc.status): void => {
        if (done) return;
        done = true;
        const codeName = grpc.status[code] ?? String(code);
        this.inFlight.dec({ method });
        this.calls.inc({ method, code: codeName });
        endTimer({ code: codeName });
        if (code === grpc.status.OK && reply) this.observeReply(method, reply);
      };
      return new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveHalfClose: (nextHalfClose) => {
              handlerStarted = true;
              nextHalfClose();
            },
            onCancel: () => {
              cancelled = true;
              if (reply) finish(grpc.status.OK);
              else if (!handlerStarted) finish(deadlinePassed(call) ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED);
              // else: the handler is still stopping CRIU; its answer ends the call.
            },
          }),
        sendMessage: (message, next) => {
          reply = message as ObservedReply;
          // After a cancel grpc-js drops the reply and never sends its OK status.
          if (cancelled) finish(grpc.status.OK);
          next(message);
        },
        sendStatus: (status, next) => {
          finish(status.code);
          next(status);
        },
      });
    };
  }

  private observeReply(method: string, r: ObservedReply): void {
    if (method === 'Dump' || method === 'PreDump') {
      const frozenUs = toNumber(r.stats?.frozen_time_us);
      if (r.stats && frozenUs !== undefined) this.frozen.observe({ method }, frozenUs / 1e6);
      const pages = toNumber(r.stats?.pages_written);
      if (pages !== undefined) this.pagesWritten.inc({ method }, pages);
      const bytes = toNumber(r.size_bytes);
      if (bytes !== undefined) this.bytesWritten.inc({ method }, bytes);
    } else if (method === 'Check' && r.criu_version && r.criu_transport) {
      this.criuAnswered(r.criu_version, r.criu_transport);
    }
  }
}

function toNumber(v: Num): number | undefined {
  if (v === null || v === undefined) return undefined;
  const n = Number(typeof v === 'number' ? v : v.toString());
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function deadlinePassed(call: grpc.ServerInterceptingCallInterface): boolean {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) && ms <= Date.now() + 5;
}

export interface MetricsServer {
  /** e.g. "http://127.0.0.1:9464/metrics", with the bound port. */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves GET /metrics (Prometheus text format) on a plain HTTP listener of its own. */
export async function startMetricsServer(listen: HttpAddress, metrics: AgentMetrics, log: Logger): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (url.pathname !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('criu-agent serves its metrics at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.error({ error: errorMessage(err) }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${errorMessage(err)}\n`);
      },
    );
  });
  const host = listen.host.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ error: errorMessage(err) }, 'metrics listener failed'));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${listen.host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
