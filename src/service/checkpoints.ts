import { AgentError } from '../errors';
import { validateCheckpointId, type CheckpointRecord } from '../store';
import type { ServiceContext } from './context';

/** A checkpoint's manifest, with what the store derives: its directory and its children. */
export interface CheckpointInfo extends CheckpointRecord {
  imagesDir: string;
  children: string[];
}

/** ListCheckpoints, GetCheckpoint, DeleteCheckpoint. */
export class CheckpointsService {
  constructor(private readonly ctx: ServiceContext) {}

  async list(): Promise<CheckpointInfo[]> {
    const all = await this.ctx.store.list();
    return all.map((c) => this.info(c, all));
  }

  async get(id: string): Promise<CheckpointInfo> {
    validateCheckpointId(id);
    const record = await this.ctx.store.get(id);
    if (!record) throw new AgentError('not-found', `checkpoint ${id} does not exist`);
    return this.info(record, await this.ctx.store.list());
  }

  /** Deletes the checkpoint (and with cascade, what builds on it); returns the ids deleted, children first. */
  async delete(id: string, cascade: boolean): Promise<string[]> {
    validateCheckpointId(id);
    const plan = await this.ctx.store.deletionPlan(id, cascade);
    const release = this.ctx.locks.acquire(
      plan.map((c) => `checkpoint ${c}`),
      `delete of checkpoint ${id}`,
    );
    try {
      for (const c of plan) await this.ctx.store.remove(c);
      return plan;
    } finally {
      release();
    }
  }

  private info(c: CheckpointRecord, all: CheckpointRecord[]): CheckpointInfo {
    return {
      ...c,
      imagesDir: this.ctx.store.pathOf(c.id),
      children: all.filter((o) => o.parentId === c.id).map((o) => o.id),
    };
  }
}
