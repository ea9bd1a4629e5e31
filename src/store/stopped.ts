import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** A tree the agent left STOPPED (Dump or Restore with final state STOPPED). */
export interface StoppedTree {
  pid: number;
  /** Start time of the root (clock ticks since boot): tells the same process from a later one with its pid. */
  startTime: number;
  /** What stopped it, e.g. "dump into checkpoint web-1". */
  by: string;
  since: string;
  /** migrating.json: the checkpoint the migration writes here (its pages go to the destination, so it is never kept). */
  checkpointId?: string;
}

/**
 * Trees the agent left stopped, kept in <stateDir>/stopped.json so that the
 * agent still knows, after a restart, which stopped trees are its own to
 * Continue. Written atomically (temporary file, then rename). Migrate keeps
 * a second list (migrating.json) of the trees it holds stopped for a
 * destination, which a restart resumes.
 */
export class StoppedTrees {
  private readonly file: string;
  /** Mutations run one after another: concurrent operations must not lose each other's entries. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string, file = 'stopped.json') {
    this.file = path.join(stateDir, file);
  }

  async all(): Promise<StoppedTree[]> {
    try {
      const parsed = JSON.parse(await fsp.readFile(this.file, 'utf8')) as unknown;
      return Array.isArray(parsed) ? (parsed as StoppedTree[]) : [];
    } catch {
      return [];
    }
  }

  async find(pid: number, startTime: number | null): Promise<StoppedTree | undefined> {
    return (await this.all()).find((t) => t.pid === pid && t.startTime === startTime);
  }

  add(entry: StoppedTree): Promise<void> {
    return this.mutate(async () => {
      await this.write([...(await this.all()).filter((t) => t.pid !== entry.pid), entry]);
    });
  }

  remove(pid: number): Promise<void> {
    return this.mutate(async () => {
      const all = await this.all();
      if (all.some((t) => t.pid === pid)) await this.write(all.filter((t) => t.pid !== pid));
    });
  }

  /** Drops entries whose process is gone or whose pid now names another process. */
  prune(isSame: (t: StoppedTree) => Promise<boolean>): Promise<void> {
    return this.mutate(async () => {
      const all = await this.all();
      const kept: StoppedTree[] = [];
      for (const t of all) if (await isSame(t)) kept.push(t);
      if (kept.length !== all.length) await this.write(kept);
    });
  }

  private mutate(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async write(entries: StoppedTree[]): Promise<void> {
    const tmp = `${this.file}.tmp`;
    try {
      await fsp.writeFile(tmp, JSON.stringify(entries, null, 2) + '\n', { mode: 0o600 });
      await fsp.rename(tmp, this.file);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }
}
