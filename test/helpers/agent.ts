import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CheckpointAgentClient } from '../../src/generated/criu_agent/v1/CheckpointAgent';
import type { ProtoGrpcType } from '../../src/generated/agent';
import type { AgentMethod } from '../../src/cli/client';
import { loadAgentPackageDefinition } from '../../src/proto';
import { CLI } from './cli';
import { flagValues } from './deploy';

/** A real agent process (the built dist/cli.js), serving on a unix socket in a temp folder. */
export interface AgentProcess {
  readonly dir: string;
  /** Pid of the agent process (with `namespaced`: as this namespace sees it; nsenter -t PID reaches its namespaces). */
  readonly pid: number;
  readonly socket: string;
  readonly stateDir: string;
  readonly client: CheckpointAgentClient;
  /** Everything the agent wrote on stderr so far (its JSON log). */
  output(): string;
  /**
   * The TCP address (host:port, the bound port) of the listener the test
   * added with `--listen 127.0.0.1:0` besides the unix socket, from the
   * agent's "criu-agent listening" line.
   */
  tcpAddress(): string;
  /** SIGTERM (or the given signal) and wait for exit; the state dir stays. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts a new agent process on the same socket and state dir. */
  restart(): Promise<AgentProcess>;
  /** Stops the agent and removes its folder. */
  dispose(): Promise<void>;
}

/** The agent's JSON log lines with `audit: true`. */
export function auditLines(agent: AgentProcess): Record<string, unknown>[] {
  return agent
    .output()
    .split('\n')
    .filter((l) => l.includes('"audit":true'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export interface StartAgentOptions {
  dir?: string;
  /** Appended to the command line. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /**
   * The arguments of `serve`, used as given instead of the helper's own
   * `--listen unix:<dir>/agent.sock --state-dir <dir>/state --log-level
   * debug` (e.g. a deployment's command line). They must name a unix
   * listener (the client uses its first) and a --state-dir: an agent the
   * test starts must not fall back to the host's default paths.
   */
  serveArgs?: readonly string[];
  /**
   * Runs the agent as a second node on this machine: in its own pid, network
   * and mount namespaces (`unshare -fpn --mount-proc`, loopback up), reached
   * over its unix socket path. It is PID 1 there: stopping it ends every
   * process it restored.
   */
  namespaced?: boolean;
}

export async function startAgent(opts: StartAgentOptions = {}): Promise<AgentProcess> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-it-'));
  const given = opts.serveArgs ? givenPaths(opts.serveArgs) : undefined;
  const socket = given?.socket ?? path.join(dir, 'agent.sock');
  const stateDir = given?.stateDir ?? path.join(dir, 'state');
  const serveArgs = opts.serveArgs ?? ['--listen', `unix:${socket}`, '--state-dir', stateDir, '--log-level', 'debug'];
  const argv = [CLI, 'serve', ...serveArgs, ...(opts.args ?? [])];
  const child: ChildProcess = opts.namespaced
    ? spawn('unshare', ['-fpn', '--mount-proc', '--kill-child=SIGTERM', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...argv], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, ...opts.env },
      })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const started = Date.now();
  while (!out.includes('criu-agent listening')) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode} before listening:\n${out}`);
    if (Date.now() - started > 20_000) {
      child.kill('SIGKILL');
      throw new Error(`agent did not start listening within 20 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const proto = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as ProtoGrpcType;
  const client = new proto.criu_agent.v1.CheckpointAgent(`unix:${socket}`, grpc.credentials.createInsecure());

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    client.close();
    const inner = opts.namespaced ? innerPid(child.pid ?? 0) : undefined;
    // unshare ignores SIGTERM; killed, it passes SIGTERM on to the agent (--kill-child).
    if (child.exitCode === null && child.signalCode === null) child.kill(opts.namespaced && signal === 'SIGTERM' ? 'SIGKILL' : signal);
    await exited;
    if (inner) {
      if (signal !== 'SIGTERM') killQuietly(inner, signal);
      for (let i = 0; i < 200 && fs.existsSync(`/proc/${inner}`); i++) await new Promise((r) => setTimeout(r, 25));
    }
  };
  return {
    dir,
    pid: (opts.namespaced ? innerPid(child.pid ?? 0) : undefined) ?? child.pid ?? 0,
    socket,
    stateDir,
    client,
    output: () => out,
    tcpAddress: () => tcpAddressIn(out),
    stop,
    restart: async () => {
      await stop();
      return startAgent({ ...opts, dir });
    },
    dispose: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The agent unshare started (its only child), as this namespace sees it. */
function innerPid(unsharePid: number): number | undefined {
  try {
    const kids = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length ? Number(kids[0]) : undefined;
  } catch {
    return undefined;
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/** The first unix socket and the state directory `serve` args name (`--flag value` or `--flag=value`). */
function givenPaths(args: readonly string[]): { socket: string; stateDir: string } {
  const socket = flagValues(args, '--listen').find((l) => l.startsWith('unix:'))?.slice('unix:'.length);
  const stateDir = flagValues(args, '--state-dir')[0];
  if (!socket || !stateDir) throw new Error(`serveArgs need a --listen unix:/path and a --state-dir: ${JSON.stringify(args)}`);
  return { socket, stateDir };
}

function tcpAddressIn(log: string): string {
  for (const line of log.split('\n')) {
    if (!line.includes('criu-agent listening')) continue;
    const tcp = (JSON.parse(line) as { addresses: string[] }).addresses.find((a) => !a.startsWith('unix:'));
    if (tcp) return tcp;
  }
  throw new Error(`the agent logged no TCP listener:\n${log}`);
}

/** The unary RPCs the tests call: the same list the CLI calls. */
export type Method = AgentMethod;

type Unary<Res> = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

/** Calls a unary method and resolves with its response (rejects with the grpc ServiceError). */
export function call<Res>(client: CheckpointAgentClient, method: Method, req: object, opts: grpc.CallOptions = {}): Promise<Res> {
  const fn = (client[method] as unknown as Unary<Res>).bind(client);
  return new Promise<Res>((resolve, reject) => {
    fn(req, new grpc.Metadata(), opts, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

/** Awaits a call expected to fail; returns its ServiceError after checking the code (and message). */
export async function expectStatus(p: Promise<unknown>, code: grpc.status, message?: RegExp): Promise<grpc.ServiceError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`expected status ${grpc.status[code]}, but the call succeeded`);
  const se = err as grpc.ServiceError;
  if (se.code !== code) throw new Error(`expected status ${grpc.status[code]}, got ${grpc.status[se.code] ?? se.code}: ${se.details}`);
  if (message && !message.test(se.details)) throw new Error(`status ${grpc.status[code]} as expected, but message ${JSON.stringify(se.details)} does not match ${message}`);
  return se;
}

/** True once CRIU has started writing its dump log in `dir` (a checkpoint's temporary directory); false if `dir` is gone. */
export function hasDumpLog(dir: string): boolean {
  try {
    return fs.readdirSync(dir).some((f) => /^(pre-)?dump(-.*)?\.log$/.test(f));
  } catch {
    return false;
  }
}
