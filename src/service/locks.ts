import { AgentError } from '../errors';

/**
 * One operation at a time per key (a tree's root pid, a checkpoint id): CRIU
 * seizing a tree another CRIU holds, or two dumps racing for one directory,
 * fail in confusing ways, so the second caller gets ABORTED at once, naming
 * the operation in progress.
 */
export class KeyedLocks {
  private readonly held = new Map<string, string>();

  /** Takes every key or none; returns the release function. */
  acquire(keys: string[], holder: string): () => void {
    for (const key of keys) {
      const current = this.held.get(key);
      if (current !== undefined) {
        throw new AgentError('aborted', `${key} is busy: ${current} is in progress; retry when it has finished`);
      }
    }
    for (const key of keys) this.held.set(key, holder);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const key of keys) this.held.delete(key);
    };
  }
}
