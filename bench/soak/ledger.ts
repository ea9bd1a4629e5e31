/**
 * The soak's own account of checkpoints: what the agent acknowledged
 * (a Dump answered OK), what it acknowledged deleting, and what it refused.
 * The agent's listings and its state directory are held to it.
 */
import type { TreeInfo } from './targets';

/**
 * present: acknowledged, must be listed until the soak deletes it;
 * deleted: acknowledged gone, must never be listed again;
 * absent: the Dump failed with a definite answer, must never be listed;
 * unknown: the answer was lost (cancel, deadline, agent killed): either is fine.
 */
export type Fate = 'present' | 'deleted' | 'absent' | 'unknown';

export interface LedgerEntry {
  id: string;
  fate: Fate;
  kind: 'dump' | 'pre-dump';
  tree: TreeInfo;
  /** Op in flight on this id (restore, delete, get): others leave it alone. */
  busy: boolean;
  /** How often its files were checked against its manifest, and restores that succeeded and were checked. */
  filesVerified: number;
  restoresVerified: number;
}

export class Ledger {
  private readonly entries = new Map<string, LedgerEntry>();

  get(id: string): LedgerEntry | undefined {
    return this.entries.get(id);
  }

  all(): LedgerEntry[] {
    return [...this.entries.values()];
  }

  /** Records a Dump's outcome. */
  record(id: string, fate: Fate, kind: 'dump' | 'pre-dump', tree: TreeInfo): LedgerEntry {
    const e: LedgerEntry = { id, fate, kind, tree, busy: false, filesVerified: 0, restoresVerified: 0 };
    this.entries.set(id, e);
    return e;
  }

  present(): LedgerEntry[] {
    return this.all().filter((e) => e.fate === 'present');
  }

  /** Present (or possibly present) entries no op holds. */
  idle(filter: (e: LedgerEntry) => boolean = () => true): LedgerEntry[] {
    return this.all().filter((e) => !e.busy && (e.fate === 'present' || e.fate === 'unknown') && filter(e));
  }

  /**
   * Compares a listing with the ledger, skipping entries an op holds (a
   * delete may be under way). Entries of unknown fate that are listed
   * become present: from then on they must stay.
   */
  compare(listed: Set<string>, judge: (e: LedgerEntry) => boolean = (e) => !e.busy): { lost: string[]; extra: string[] } {
    const lost: string[] = [];
    const extra: string[] = [];
    for (const e of this.entries.values()) {
      const seen = listed.has(e.id);
      if (!judge(e)) continue;
      if (e.fate === 'present' && !seen) lost.push(`checkpoint ${e.id} was acknowledged (Dump answered OK) and is no longer listed`);
      if (e.fate === 'deleted' && seen) extra.push(`checkpoint ${e.id} was acknowledged deleted and is listed again`);
      if (e.fate === 'absent' && seen) extra.push(`checkpoint ${e.id} is listed, but its Dump failed`);
      if (e.fate === 'unknown' && seen) e.fate = 'present';
    }
    for (const id of listed) {
      if (!this.entries.has(id)) extra.push(`checkpoint ${id} is listed, but no Dump of the soak created it`);
    }
    return { lost, extra };
  }

  counts(): Record<Fate, number> {
    const c: Record<Fate, number> = { present: 0, deleted: 0, absent: 0, unknown: 0 };
    for (const e of this.entries.values()) c[e.fate]++;
    return c;
  }
}
