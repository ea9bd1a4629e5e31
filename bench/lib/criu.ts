import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { run, type ExitInfo } from './util';

/** The criu binary both sides use: `criu` on PATH, else /usr/local/sbin/criu (the agent's own rule). */
export function resolveCriu(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, 'criu');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return '/usr/local/sbin/criu';
}

/**
 * The agent sends CRIU log_level 4 (its --criu-log-level default) and a log
 * file in the images directory; the CLI runs get the same, so both sides do
 * the same work. `criu dump -t PID -D DIR` alone would log warnings to stderr.
 */
export const CLI_LOG_ARGS = (file: string): string[] => ['-v4', '-o', file];

export function cliDump(criu: string, dir: string, pid: number, leaveRunning: boolean): Promise<ExitInfo> {
  return run(criu, ['dump', '-t', String(pid), '-D', dir, ...CLI_LOG_ARGS('dump.log'), ...(leaveRunning ? ['--leave-running'] : [])]);
}

export function cliRestore(criu: string, dir: string): Promise<ExitInfo> {
  return run(criu, ['restore', '-D', dir, '-d', ...CLI_LOG_ARGS('restore.log')]);
}

/** Birth and modification times (ns, the kernel's coarse clock) of a file; undefined when absent. */
export async function fileTimes(file: string): Promise<{ birthNs: bigint; mtimeNs: bigint } | undefined> {
  try {
    const st = await fsp.stat(file, { bigint: true });
    return { birthNs: st.birthtimeNs, mtimeNs: st.mtimeNs };
  } catch {
    return undefined;
  }
}

/** The last "(SS.uuuuuu)" stamp of a CRIU log in ms: how long CRIU ran after opening its log. */
export async function criuLogSpanMs(file: string): Promise<number | undefined> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = /^\((\d+)\.(\d{6})\)/.exec(lines[i] ?? '');
      if (m) return Number(m[1]) * 1000 + Number(m[2]) / 1000;
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * Where the time of one operation went, from file timestamps (coarse clock:
 * each boundary is up to one tick, 4 ms, early) and the caller's clock:
 *   start:  call issued -> CRIU opened its log (agent: gRPC, checks, digest
 *           verification before a restore, spawning CRIU; CLI: exec)
 *   criu:   log opened -> CRIU wrote its stats file (CRIU's own work)
 *   digest: stats written -> manifest written (agent dumps: CRIU's exit, the
 *           XXH64 digests, the manifest)
 *   finish: the rest until the reply or exit
 */
export interface Phases {
  startMs: number;
  criuMs: number;
  digestMs?: number;
  finishMs: number;
}

export async function phasesOf(
  t0Ns: bigint,
  t1Ns: bigint,
  logFile: string,
  statsFile: string,
  manifestFile?: string,
): Promise<Phases | undefined> {
  const log = await fileTimes(logFile);
  const stats = await fileTimes(statsFile);
  if (!log || !stats) return undefined;
  const ms = (a: bigint, b: bigint): number => Number(b - a) / 1e6;
  const manifest = manifestFile ? await fileTimes(manifestFile) : undefined;
  const end = manifest?.mtimeNs ?? stats.mtimeNs;
  return {
    startMs: ms(t0Ns, log.birthNs),
    criuMs: ms(log.birthNs, stats.mtimeNs),
    ...(manifest ? { digestMs: ms(stats.mtimeNs, manifest.mtimeNs) } : {}),
    finishMs: ms(end, t1Ns),
  };
}
