/**
 * Starts and talks to test/vm/dirtier.py: one process with a big buffer whose
 * pages partly change every few hundred ms (see the script for the protocol).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { waitForPidFree } from '../../src/proctree';

export const DIRTIER_SCRIPT = path.resolve(__dirname, 'dirtier.py');

export interface DirtierState {
  pid: number;
  pages: number;
  per_round: number;
  cluster: number;
  rounds: number;
  dirtied: number;
  paused: boolean;
}

export interface DirtierVerify extends DirtierState {
  /** Pages whose version marks disagree with the version table. */
  bad_pages: number;
  mem_sha256: string;
}

export interface Dirtier {
  readonly pid: number;
  readonly port: number;
  state(): Promise<DirtierState>;
  verify(): Promise<DirtierVerify>;
  /** Stops dirtying and answers as verify(). */
  pause(): Promise<DirtierVerify>;
  resume(): Promise<DirtierState>;
  /** SIGKILL, wait for the pid to be free, remove the temp dir. Idempotent. */
  kill(): Promise<void>;
}

export interface DirtierOptions {
  mib?: number;
  fraction?: number;
  /** Pages are dirtied in runs of this many contiguous pages. */
  cluster?: number;
  intervalMs?: number;
  readyTimeoutMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Sends one command line and resolves with the JSON line answered. */
export function ask<T>(port: number, command: string, timeoutMs = 60_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: '127.0.0.1', port }, () => sock.write(`${command}\n`));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`dirtier at 127.0.0.1:${port}: no answer to ${command} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.on('error', (e: Error) => {
      clearTimeout(timer);
      reject(new Error(`dirtier at 127.0.0.1:${port}: ${command}: ${e.message}`));
    });
    sock.on('end', () => {
      clearTimeout(timer);
      sock.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        const v = JSON.parse(text.split('\n', 1)[0] ?? '') as T & { error?: string };
        if (v.error !== undefined) reject(new Error(`dirtier: ${v.error}`));
        else resolve(v);
      } catch {
        reject(new Error(`dirtier at 127.0.0.1:${port}: ${command}: malformed answer ${JSON.stringify(text.slice(0, 200))}`));
      }
    });
  });
}

/** Starts dirtier.py as a session leader with stdio on /dev/null and waits until it serves. */
export async function startDirtier(opts: DirtierOptions = {}): Promise<Dirtier> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'criu-dirtier-'));
  const readyFile = path.join(dir, 'ready.json');
  const child = spawn(
    '/usr/bin/python3',
    [
      '-B',
      DIRTIER_SCRIPT,
      '--ready-file',
      readyFile,
      '--mib',
      String(opts.mib ?? 256),
      '--fraction',
      String(opts.fraction ?? 0.005),
      '--cluster',
      String(opts.cluster ?? 16),
      '--interval-ms',
      String(opts.intervalMs ?? 200),
    ],
    { detached: true, stdio: 'ignore' },
  );
  const fate: { exited: string | null } = { exited: null };
  child.on('exit', (code, signal) => {
    fate.exited = signal !== null ? `signal ${signal}` : `exit code ${String(code)}`;
  });
  child.on('error', (e: Error) => {
    fate.exited = `spawn failed: ${e.message}`;
  });
  child.unref();
  const pid = child.pid ?? 0;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  let ready: { pid: number; port: number } | null = null;
  while (ready === null) {
    try {
      ready = JSON.parse(await readFile(readyFile, 'utf8')) as { pid: number; port: number };
    } catch {
      if (fate.exited !== null || Date.now() > deadline) {
        const trace = await readFile(`${readyFile}.error`, 'utf8').catch(() => '');
        killQuietly(pid);
        await rm(dir, { recursive: true, force: true });
        throw new Error(`dirtier.py ${fate.exited ?? 'not ready in time'}${trace ? `:\n${trace}` : ''}`);
      }
      await sleep(50);
    }
  }
  const port = ready.port;
  let killed = false;
  return {
    pid,
    port,
    state: () => ask<DirtierState>(port, 'state'),
    verify: () => ask<DirtierVerify>(port, 'verify'),
    pause: () => ask<DirtierVerify>(port, 'pause'),
    resume: () => ask<DirtierState>(port, 'resume'),
    kill: async () => {
      if (killed) return;
      killed = true;
      killQuietly(pid);
      await waitForPidFree(pid, 15_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
