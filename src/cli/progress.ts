import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { formatBytes, formatSeconds } from './format';

/** How often the line is redrawn. */
const TICK_MS = 250;

export interface ProgressOptions {
  /** What is going on, e.g. "dump of pid 1234 into web-1". */
  label: string;
  /** Where it is drawn: a TTY (the caller checks). */
  stream: NodeJS.WritableStream;
  /**
   * The agent's state directory, when this machine sees it: the size of the
   * checkpoint being written (`<stateDir>/checkpoints/.tmp-<id>-<random>`,
   * renamed to its id when complete) is shown as it grows.
   */
  stateDir?: string;
  checkpointId?: string;
}

/**
 * A live status line on a terminal: elapsed time and, for a dump, the bytes
 * written so far. Redrawn in place (`\r`, erase line); stop() erases it.
 */
export function startProgress(opts: ProgressOptions): { stop(): void } {
  const started = Date.now();
  const tmpName = opts.checkpointId ? new RegExp(`^\\.tmp-${escapeRegExp(opts.checkpointId)}-[0-9a-f]{8}$`) : undefined;
  const checkpointsDir = opts.stateDir ? path.join(opts.stateDir, 'checkpoints') : undefined;
  let bytes: number | undefined;
  let measuring = false;
  let stopped = false;

  const measure = async (): Promise<void> => {
    if (!checkpointsDir || !tmpName || measuring) return;
    measuring = true;
    try {
      const names = await fsp.readdir(checkpointsDir).catch(() => [] as string[]);
      const tmp = names.find((n) => tmpName.test(n));
      // Once renamed, the complete checkpoint carries the id itself.
      const dir = tmp ?? (opts.checkpointId && names.includes(opts.checkpointId) ? opts.checkpointId : undefined);
      if (dir) bytes = await treeSize(path.join(checkpointsDir, dir));
    } finally {
      measuring = false;
    }
  };
  const draw = (): void => {
    if (stopped) return;
    const secs = (Date.now() - started) / 1000;
    let line = `${opts.label}: ${formatSeconds(secs)}`;
    if (bytes !== undefined) line += `, ${formatBytes(bytes)} written${secs >= 1 ? ` (${formatBytes(bytes / secs)}/s)` : ''}`;
    opts.stream.write(`\r\x1b[K${line}`);
  };
  const tick = (): void => {
    void measure().then(draw, draw);
  };
  // Without the state directory the line shows the time only: say why, once, above it.
  const unseen = checkpointsDir ? whyUnseen(checkpointsDir) : undefined;
  if (unseen) opts.stream.write(`bytes written not shown: ${unseen}; --state-dir DIR names the agent's state directory when the agent runs on this machine\n`);
  draw();
  const timer = setInterval(tick, TICK_MS);
  timer.unref();
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      opts.stream.write('\r\x1b[K');
    },
  };
}

/** Why `checkpointsDir` cannot be watched from here, or undefined when it can. */
function whyUnseen(checkpointsDir: string): string | undefined {
  try {
    fs.accessSync(checkpointsDir, fs.constants.R_OK | fs.constants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `there is no ${checkpointsDir} on this machine` : `${checkpointsDir} cannot be read here (${code ?? 'error'})`;
  }
}

/** Bytes of the files under `dir` (like du --apparent-size); files vanishing meanwhile count as 0. */
async function treeSize(dir: string): Promise<number> {
  let total = 0;
  const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await treeSize(p);
    else if (e.isFile()) total += (await fsp.lstat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
