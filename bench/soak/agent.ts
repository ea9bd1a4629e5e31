/**
 * The agents a soak runs: the built dist/cli.js on a unix socket and state
 * directory of the soak's own, with its Prometheus metrics on a loopback
 * port, SIGKILLed and restarted at once on the same paths (as systemd's
 * Restart=always would); and, for Migrate, a second node: the same agent in
 * its own pid, network and mount namespaces, reached over its unix socket
 * path (pathname sockets cross network namespaces).
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { PackageDefinition } from '@grpc/proto-loader';
import { packageRoot } from '../../src/paths';
import { loadAgentPackageDefinition } from '../../src/proto';
import { own, type OwnedPid } from './procs';

const CLI = path.join(packageRoot, 'dist', 'cli.js');
const SUBREAPER = path.join(packageRoot, 'bench', 'subreaper.py');
const SERVICE = 'criu_agent.v1.CheckpointAgent';

/** What one call got back. */
export interface CallResult {
  code: grpc.status;
  details: string;
  res?: unknown;
  ms: number;
}

export interface CallOptions {
  /** Client deadline, from the start of the call. */
  deadlineMs: number;
  /** Cancel the call this long after it started. */
  cancelAfterMs?: number;
}

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  o: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: unknown) => void,
) => grpc.ClientUnaryCall;

/** Metrics the soak reads from the agent's /metrics (prom-client's default metrics). */
export interface AgentMetricsSample {
  heapUsedBytes: number;
  openFds: number;
  /** Event-loop delay p99 since the previous scrape (prom-client resets its histogram each collect). */
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
}

export class SoakAgent {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private client?: grpc.Client;
  private metricsUrl = '';
  /** Starts of the agent process so far (1 after start()). */
  incarnation = 0;
  owned?: OwnedPid;
  /**
   * Called when the agent exits without the soak having killed or stopped
   * it (a crash: an unhandled error ends Node): how it ended and the last
   * lines it wrote. The soak counts it and starts the agent again at once.
   */
  onCrash?: (how: string, lastWords: string) => void;
  private exitExpected = false;
  private tail = '';
  private readonly packageDef: PackageDefinition;
  private readonly logFd: number;

  constructor(
    readonly socket: string,
    readonly stateDir: string,
    readonly logFile: string,
    private readonly extraArgs: readonly string[] = [],
    /**
     * A second node: `unshare -fpn --mount-proc` around bench/subreaper.py
     * (PID 1 there, so that what the agent kills is reaped and its pids are
     * free again for the next migration), loopback up, then the agent. No
     * metrics listener: its loopback is not the soak's. `pid` is then
     * unshare's: the node's processes are its descendants, and killing it
     * ends the whole pid namespace.
     */
    readonly namespaced = false,
  ) {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build:ts (npm run soak does)`);
    this.packageDef = loadAgentPackageDefinition();
    this.logFd = fs.openSync(logFile, 'a');
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** RPC names the agent's API defines: the soak's op table skips operations the API lacks. */
  rpcNames(): Set<string> {
    const svc = this.packageDef[SERVICE] as Record<string, unknown> | undefined;
    return new Set(Object.keys(svc ?? {}));
  }

  /** Starts the agent and waits until it listens. */
  async start(): Promise<void> {
    const serve = [
      CLI,
      'serve',
      '--listen',
      `unix:${this.socket}`,
      '--state-dir',
      this.stateDir,
      ...(this.namespaced ? [] : ['--metrics-listen', '127.0.0.1:0']),
      '--log-level',
      'info',
      ...this.extraArgs,
    ];
    const child = this.namespaced
      ? spawn(
          'unshare',
          ['-fpn', '--mount-proc', '--kill-child=SIGKILL', 'python3', SUBREAPER, 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...serve],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        )
      : spawn(process.execPath, serve, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.exitExpected = false;
    this.tail = '';
    this.incarnation++;
    fs.writeSync(this.logFd, `{"soak":"agent start","incarnation":${this.incarnation},"pid":${child.pid ?? 0}}\n`);
    let head = '';
    child.stderr?.on('data', (d: Buffer) => {
      fs.writeSync(this.logFd, d);
      if (head.length < 64 * 1024) head += d.toString();
      this.tail = (this.tail + d.toString()).slice(-4096);
    });
    this.exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        resolve();
        // Stderr may still hold its last lines: read them once it closed.
        if (!this.exitExpected && this.onCrash) {
          const report = (): void => this.onCrash?.(signal ? `killed by ${signal}` : `exit code ${String(code)}`, this.tail);
          if (child.stderr && !child.stderr.closed) child.stderr.once('close', report);
          else report();
        }
      }),
    );
    const started = Date.now();
    for (;;) {
      const line = head.split('\n').find((l) => l.includes('criu-agent listening'));
      if (line) {
        this.metricsUrl = (JSON.parse(line) as { metrics?: string }).metrics ?? '';
        break;
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`agent exited (${child.exitCode ?? child.signalCode}) before listening:\n${head}`);
      }
      if (Date.now() - started > 30_000) {
        child.kill('SIGKILL');
        throw new Error(`agent did not listen within 30 s:\n${head}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    if (!this.metricsUrl && !this.namespaced) throw new Error('the agent logged no metrics address');
    this.owned = (await own(child.pid ?? 0)) ?? undefined;
    // One client for every agent process, as a controller has: across a
    // restart its calls get what grpc-js gives them (UNAVAILABLE while nothing
    // listens), and it reconnects within half a second once the agent is back.
    if (!this.client) {
      const Ctor = grpc.makeClientConstructor(this.packageDef[SERVICE] as grpc.ServiceDefinition, SERVICE);
      this.client = new Ctor(`unix:${this.socket}`, grpc.credentials.createInsecure(), {
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.min_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 500,
      });
    }
  }

  /** SIGKILLs the agent (as the OOM killer or a crash would) and waits for it to be gone. */
  async kill(): Promise<void> {
    this.exitExpected = true;
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, SIGKILL after 20 s; a namespaced node is SIGKILLed (unshare ignores SIGTERM), which ends its pid namespace. */
  async stop(): Promise<void> {
    this.exitExpected = true;
    this.client?.close();
    this.client = undefined;
    if (this.namespaced) await this.kill();
    else if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child?.kill('SIGKILL'), 20_000);
      await this.exited;
      clearTimeout(t);
    }
    fs.closeSync(this.logFd);
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * One unary call with a deadline (and a cancel, when asked). Never
   * rejects: a client-side failure is a status like any other.
   */
  call(method: string, req: unknown, opts: CallOptions): Promise<CallResult> {
    const t0 = performance.now();
    const client = this.client;
    if (!client) throw new Error('soak: call before the agent started');
    const fn = (client as unknown as Record<string, Unary | undefined>)[method];
    if (!fn) return Promise.resolve({ code: grpc.status.UNIMPLEMENTED, details: `soak: no method ${method}`, ms: 0 });
    return new Promise<CallResult>((resolve) => {
      const c = fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + opts.deadlineMs }, (err, res) => {
        if (timer) clearTimeout(timer);
        const ms = performance.now() - t0;
        if (err) resolve({ code: err.code, details: err.details, ms });
        else resolve({ code: grpc.status.OK, details: '', res, ms });
      });
      const timer = opts.cancelAfterMs !== undefined ? setTimeout(() => c.cancel(), opts.cancelAfterMs) : undefined;
    });
  }

  /**
   * A server-streaming call (ExportCheckpoint): every message it sent, in
   * `res` as an array. Never rejects.
   */
  serverStream(method: string, req: unknown, opts: CallOptions): Promise<CallResult> {
    const t0 = performance.now();
    const client = this.client as unknown as Record<string, ((req: unknown, md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<unknown>) | undefined> | undefined;
    const fn = client?.[method];
    if (!client || !fn) return Promise.resolve({ code: grpc.status.UNIMPLEMENTED, details: `soak: no method ${method}`, ms: 0 });
    return new Promise<CallResult>((resolve) => {
      const got: unknown[] = [];
      const c = fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + opts.deadlineMs });
      c.on('data', (m: unknown) => got.push(m));
      c.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details, ms: performance.now() - t0 }));
      c.on('status', (st: grpc.StatusObject) => {
        if (st.code === grpc.status.OK) resolve({ code: grpc.status.OK, details: '', res: got, ms: performance.now() - t0 });
      });
    });
  }

  /** A client-streaming call (ImportCheckpoint) that sends `messages`. Never rejects. */
  clientStream(method: string, messages: readonly unknown[], opts: CallOptions): Promise<CallResult> {
    const t0 = performance.now();
    type ClientStreaming = (md: grpc.Metadata, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => grpc.ClientWritableStream<unknown>;
    const client = this.client as unknown as Record<string, ClientStreaming | undefined> | undefined;
    const fn = client?.[method];
    if (!client || !fn) return Promise.resolve({ code: grpc.status.UNIMPLEMENTED, details: `soak: no method ${method}`, ms: 0 });
    return new Promise<CallResult>((resolve) => {
      const c = fn.call(client, new grpc.Metadata(), { deadline: Date.now() + opts.deadlineMs }, (err, res) => {
        const ms = performance.now() - t0;
        if (err) resolve({ code: err.code, details: err.details, ms });
        else resolve({ code: grpc.status.OK, details: '', res, ms });
      });
      void (async () => {
        for (const m of messages) {
          if (!c.write(m)) await new Promise<void>((r) => c.once('drain', () => r()));
        }
        c.end();
      })().catch(() => undefined);
    });
  }

  /** The agent's own figures from its /metrics; null when it does not answer. */
  async scrape(): Promise<AgentMetricsSample | null> {
    if (!this.metricsUrl || !this.running()) return null;
    const text = await new Promise<string | null>((resolve) => {
      // agent: false: no keep-alive socket of the soak's may stay open in the agent between scrapes.
      const req = http.get(this.metricsUrl, { agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(res.statusCode === 200 ? body : null));
        res.on('error', () => resolve(null));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(null));
    });
    if (text === null) return null;
    const value = (name: string): number => {
      const m = new RegExp(`^${name} ([0-9.eE+-]+|NaN)$`, 'm').exec(text);
      return m?.[1] ? Number(m[1]) : NaN;
    };
    return {
      heapUsedBytes: value('nodejs_heap_size_used_bytes'),
      openFds: value('process_open_fds'),
      eventLoopP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000,
      eventLoopMaxMs: value('nodejs_eventloop_lag_max_seconds') * 1000,
    };
  }
}
