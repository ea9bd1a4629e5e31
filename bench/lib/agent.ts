import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ProtoGrpcType } from '../../src/generated/agent';
import type { CheckpointAgentClient } from '../../src/generated/criu_agent/v1/CheckpointAgent';
import type { CheckResponse__Output } from '../../src/generated/criu_agent/v1/CheckResponse';
import type { Checkpoint__Output } from '../../src/generated/criu_agent/v1/Checkpoint';
import type { DeleteCheckpointResponse__Output } from '../../src/generated/criu_agent/v1/DeleteCheckpointResponse';
import type { DumpRequest } from '../../src/generated/criu_agent/v1/DumpRequest';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import type { ListCheckpointsResponse__Output } from '../../src/generated/criu_agent/v1/ListCheckpointsResponse';
import type { RestoreRequest } from '../../src/generated/criu_agent/v1/RestoreRequest';
import type { RestoreResponse__Output } from '../../src/generated/criu_agent/v1/RestoreResponse';
import { packageRoot } from '../../src/paths';
import { loadAgentPackageDefinition } from '../../src/proto';
import { sleep } from './util';

const CLI = path.join(packageRoot, 'dist', 'cli.js');

/** The built agent (dist/cli.js) in its own process, as deployed, and a gRPC client to it. */
export interface BenchAgent {
  /** What clients dial: unix:/path or 127.0.0.1:port (from the agent's "criu-agent listening" line). */
  readonly address: string;
  readonly stateDir: string;
  readonly pid: number;
  readonly client: CheckpointAgentClient;
  dump(req: DumpRequest, deadlineMs?: number): Promise<DumpResponse__Output>;
  restore(req: RestoreRequest, deadlineMs?: number): Promise<RestoreResponse__Output>;
  check(): Promise<CheckResponse__Output>;
  getCheckpoint(id: string): Promise<Checkpoint__Output>;
  listCheckpoints(): Promise<ListCheckpointsResponse__Output>;
  deleteCheckpoint(id: string): Promise<DeleteCheckpointResponse__Output>;
  /** The agent's log lines so far (JSON, one per line). */
  log(): string;
  stop(): Promise<void>;
}

export interface StartAgentOptions {
  /** unix:/path or 127.0.0.1:0 */
  listen: string;
  stateDir: string;
  args?: string[];
}

export async function startBenchAgent(opts: StartAgentOptions): Promise<BenchAgent> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build:ts`);
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, 'serve', '--listen', opts.listen, '--state-dir', opts.stateDir, ...(opts.args ?? [])],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let out = '';
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
    // Keep the tail only: every call logs a line.
    if (out.length > 4 * 1024 * 1024) out = out.slice(-1024 * 1024);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let address: string | undefined;
  const started = Date.now();
  while (address === undefined) {
    for (const line of out.split('\n')) {
      if (!line.includes('criu-agent listening')) continue;
      // {"msg":"criu-agent listening","addresses":["unix:/path" | "127.0.0.1:port"],...}: the bench gives one --listen.
      address = (JSON.parse(line) as { addresses: string[] }).addresses[0];
    }
    if (address !== undefined) break;
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode} before listening:\n${out}`);
    if (Date.now() - started > 20_000) {
      child.kill('SIGKILL');
      throw new Error(`agent did not listen within 20 s:\n${out}`);
    }
    await sleep(20);
  }
  const { client, call } = clientFor(address);

  return {
    address,
    stateDir: opts.stateDir,
    pid: child.pid ?? 0,
    client,
    dump: (req, deadlineMs) => call<DumpResponse__Output>('Dump', req, deadlineMs),
    restore: (req, deadlineMs) => call<RestoreResponse__Output>('Restore', req, deadlineMs),
    check: () => call<CheckResponse__Output>('Check', {}),
    getCheckpoint: (id) => call<Checkpoint__Output>('GetCheckpoint', { checkpoint_id: id }),
    listCheckpoints: () => call<ListCheckpointsResponse__Output>('ListCheckpoints', {}),
    deleteCheckpoint: (id) => call<DeleteCheckpointResponse__Output>('DeleteCheckpoint', { checkpoint_id: id }),
    log: () => out,
    stop: async () => {
      client.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

type Method = 'Dump' | 'Restore' | 'Check' | 'GetCheckpoint' | 'ListCheckpoints' | 'DeleteCheckpoint';
type Unary = (req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => unknown;

/** A client of the agent's service at address, and a promise-returning unary call. */
function clientFor(address: string): {
  client: CheckpointAgentClient;
  call: <Res>(method: Method, req: unknown, deadlineMs?: number) => Promise<Res>;
} {
  const proto = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as ProtoGrpcType;
  const client = new proto.criu_agent.v1.CheckpointAgent(address, grpc.credentials.createInsecure());
  const call = <Res>(method: Method, req: unknown, deadlineMs?: number): Promise<Res> => {
    const fn = (client[method] as unknown as Unary).bind(client);
    const options: grpc.CallOptions = deadlineMs ? { deadline: Date.now() + deadlineMs } : {};
    return new Promise<Res>((resolve, reject) => {
      fn(req, new grpc.Metadata(), options, (err, res) => (err ? reject(err) : resolve(res as Res)));
    });
  };
  return { client, call };
}

/** The gRPC floor (floorServer.ts): same service, same transport, handlers that do nothing. */
export interface FloorServer {
  readonly address: string;
  getCheckpoint(id: string): Promise<Checkpoint__Output>;
  listCheckpoints(): Promise<ListCheckpointsResponse__Output>;
  stop(): Promise<void>;
}

export async function startFloorServer(listen: string): Promise<FloorServer> {
  const child = spawn(process.execPath, [path.join(__dirname, 'floorServer.js'), listen], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('floor server did not listen within 20 s')), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\S+)\n/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`floor server exited with ${String(code)}`)));
  });
  const { client, call } = clientFor(address);
  return {
    address,
    getCheckpoint: (id) => call<Checkpoint__Output>('GetCheckpoint', { checkpoint_id: id }),
    listCheckpoints: () => call<ListCheckpointsResponse__Output>('ListCheckpoints', {}),
    stop: async () => {
      client.close();
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A grpc ServiceError's code name, for messages. */
export function statusName(err: unknown): string {
  const code = (err as { code?: number } | null)?.code;
  return code === undefined ? 'error' : (grpc.status[code] ?? String(code));
}
