/**
 * What test:gpu and the GPU bench share: a real agent (dist/cli.js) on a unix
 * socket, a gRPC call, and PyTorch targets (target.py) whose tensor hash is
 * recomputed from GPU memory on request.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadAgentPackageDefinition } from '../../src/proto';
import { packageRoot } from '../../src/paths';

export const MIB = Number(process.env.GPU_TEST_MIB ?? 256);
export const PYTHON = process.env.GPU_TEST_PYTHON ?? 'python3';
export const OUT = process.env.GPU_TEST_OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-test-out-'));
export const TARGET = path.join(packageRoot, 'test', 'gpu', 'target.py');

export type Json = Record<string, unknown>;
export interface Agent {
  child: ChildProcess;
  client: grpc.Client;
  dir: string;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function startAgent(env: NodeJS.ProcessEnv = {}): Promise<Agent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-agent-'));
  const socket = path.join(dir, 'agent.sock');
  const log = fs.openSync(path.join(OUT, `agent-${path.basename(dir)}.log`), 'a');
  const child = spawn(
    process.execPath,
    [
      path.join(packageRoot, 'dist', 'cli.js'),
      'serve',
      '--listen',
      `unix:${socket}`,
      '--state-dir',
      path.join(dir, 'state'),
      '--log-level',
      'debug',
    ],
    {
      stdio: ['ignore', log, log],
      env: { ...process.env, ...env },
    },
  );
  for (let i = 0; !fs.existsSync(socket); i++) {
    if (child.exitCode !== null || i > 400) throw new Error(`agent did not start; see ${OUT}`);
    await sleep(50);
  }
  const pkg = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as {
    criu_agent: { v1: { CheckpointAgent: grpc.ServiceClientConstructor } };
  };
  const client = new pkg.criu_agent.v1.CheckpointAgent(`unix:${socket}`, grpc.credentials.createInsecure());
  return { child, client, dir };
}

export function call(a: Agent, method: string, req: Json): Promise<Json> {
  return new Promise((resolve, reject) => {
    const fn = (
      a.client as unknown as Record<
        string,
        (r: Json, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Json) => void) => void
      >
    )[method];
    if (!fn) return reject(new Error(`no method ${method}`));
    fn.call(a.client, req, new grpc.Metadata(), { deadline: Date.now() + 300_000 }, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

export interface Target {
  pid: number;
  dir: string;
  sha256: string;
}

export async function startTarget(mib = MIB): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-target-'));
  const out = fs.openSync(path.join(dir, 'target.log'), 'a');
  const child = spawn(PYTHON, ['-B', TARGET, '--dir', dir, '--mib', String(mib)], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  const ready = path.join(dir, 'ready.json');
  for (let i = 0; !fs.existsSync(ready); i++) {
    if (child.exitCode !== null || i > 1200)
      throw new Error(`GPU target did not start: ${fs.readFileSync(path.join(dir, 'target.log'), 'utf8')}`);
    await sleep(50);
  }
  const r = JSON.parse(fs.readFileSync(ready, 'utf8')) as { pid: number; sha256: string };
  return { pid: r.pid, dir, sha256: r.sha256 };
}

/** The hash of the target's tensors, recomputed now from GPU memory: the target must be running. */
export async function gpuHash(t: Target): Promise<string> {
  const answer = path.join(t.dir, 'answer.json');
  fs.rmSync(answer, { force: true });
  fs.writeFileSync(path.join(t.dir, 'query'), '');
  for (let i = 0; i < 1200; i++) {
    if (fs.existsSync(answer)) return (JSON.parse(fs.readFileSync(answer, 'utf8')) as { sha256: string }).sha256;
    await sleep(50);
  }
  throw new Error(`target ${t.pid} did not answer within 60 s (not running, or its CUDA calls hang)`);
}

export function procState(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] ?? '?';
  } catch {
    return 'gone';
  }
}

export async function waitState(pid: number, want: 'running' | 'stopped' | 'gone'): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const s = procState(pid);
    const now = s === 'gone' || s === 'Z' ? 'gone' : s === 'T' ? 'stopped' : 'running';
    if (now === want) return;
    await sleep(50);
  }
  assert.fail(`pid ${pid} is ${procState(pid)}, expected ${want}`);
}

export async function waitPidFree(pid: number): Promise<void> {
  for (let i = 0; i < 300 && fs.existsSync(`/proc/${pid}`); i++) await sleep(50);
}
