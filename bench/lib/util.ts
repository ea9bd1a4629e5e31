import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Milliseconds on a monotonic clock. */
export function nowMs(): number {
  return performance.now();
}

/**
 * Wall-clock time in ns with sub-ms precision, comparable with file
 * timestamps (which the kernel takes from its coarse clock, i.e. up to one
 * tick, 4 ms at HZ=250, behind).
 */
export function realtimeNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** Linear-interpolated quantile (q in [0, 1]); NaN for no samples. */
export function quantile(xs: readonly number[], q: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (pos - lo);
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a command to completion (stdin on /dev/null); times it from spawn to
 * exit. stdout is kept only when asked for.
 */
export function run(file: string, args: string[], opts: { cwd?: string; stdout?: boolean } = {}): Promise<ExitInfo> {
  return new Promise((resolve, reject) => {
    const t0 = nowMs();
    const child = spawn(file, args, { stdio: ['ignore', opts.stdout ? 'pipe' : 'ignore', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const ms = nowMs() - t0;
      // The pipes may still hold a few bytes; 'close' follows at once.
      child.once('close', () => resolve({ code, signal, stdout, stderr, ms }));
    });
  });
}

/** A shell command's stdout and stderr, trimmed (for the machine description). */
export async function shell(cmd: string): Promise<string> {
  const r = await run('/bin/sh', ['-c', `${cmd} 2>&1`], { stdout: true });
  return r.stdout.trim();
}

/** Runs a command and throws unless it exits 0. */
export async function mustRun(file: string, args: string[], opts: { cwd?: string } = {}): Promise<ExitInfo> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} failed (${r.signal ?? `exit ${String(r.code)}`}): ${r.stderr.trim().slice(-2000)}`);
  }
  return r;
}

/** sync(1): write back every dirty page, so that one run's writeback does not land in the next one's time. */
export async function syncAll(): Promise<number> {
  return (await mustRun('/bin/sync', [])).ms;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? r.toFixed(2) : '–';
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Times every variant `reps` times, interleaved (A B C ... A B C ...), so a change in the machine's load hits all alike; medians. */
export async function timeInterleaved<K extends string>(reps: number, variants: Record<K, () => unknown>): Promise<Record<K, number>> {
  const keys = Object.keys(variants) as K[];
  const ms = new Map<K, number[]>(keys.map((k) => [k, []]));
  for (let i = 0; i < reps; i++) {
    for (const k of keys) {
      const s = nowMs();
      await variants[k]();
      ms.get(k)?.push(nowMs() - s);
    }
  }
  return Object.fromEntries(keys.map((k) => [k, median(ms.get(k) ?? [])])) as Record<K, number>;
}
