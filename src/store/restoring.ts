import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** A restore in progress, as written before CRIU starts. */
export interface RestoreInProgress {
  checkpointId: string;
  /** The checkpoint's pids: the ones CRIU creates its tasks with. */
  pids: number[];
  /** Boot clock ticks (proctree bootTicksNow) just before CRIU started: tasks of this restore started at or after it. */
  sinceTicks: number;
  requestId?: string;
  startedAt: string;
}

/**
 * Restores in progress, one file each under <stateDir>/restoring, removed
 * when the restore has ended (succeeded, or failed with its tasks killed).
 * A file still there at start-up is a restore the agent died in the middle
 * of: its tasks are killed then (store/leftovers.ts), so an interrupted
 * restore never leaves a half-restored tree running.
 */
export class RestoreJournal {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'restoring');
  }

  /** Records a restore; returns the function that forgets it. */
  async add(entry: RestoreInProgress): Promise<() => Promise<void>> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${entry.checkpointId}-${randomBytes(4).toString('hex')}.json`);
    const tmp = `${file}.tmp`;
    const fh = await fsp.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(entry) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
    return () => fsp.rm(file, { force: true });
  }

  /** Every recorded restore, with its file; unreadable files are returned with a null entry (to be removed). */
  async all(): Promise<{ file: string; entry: RestoreInProgress | null }[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch {
      return [];
    }
    const out: { file: string; entry: RestoreInProgress | null }[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      let entry: RestoreInProgress | null = null;
      try {
        const parsed = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<RestoreInProgress>;
        if (
          typeof parsed.checkpointId === 'string' &&
          Array.isArray(parsed.pids) &&
          parsed.pids.every((p) => Number.isInteger(p) && p > 1) &&
          Number.isInteger(parsed.sinceTicks)
        ) {
          entry = parsed as RestoreInProgress;
        }
      } catch {
        entry = null;
      }
      out.push({ file, entry });
    }
    return out;
  }
}
