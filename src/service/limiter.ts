import { AgentError } from '../errors';

/**
 * At most `limit` CRIU operations at once; the rest wait in line, first come
 * first served. CRIU freezes a tree and then writes at disk speed: running
 * more at once than the disk and cores can serve only makes every tree stay
 * frozen longer.
 */
export class Limiter {
  private running = 0;
  private readonly waiting: { start: () => void; signal?: AbortSignal; onAbort: () => void }[] = [];

  constructor(private readonly limit: number) {}

  /** Resolves with the release function once a slot is free; rejects with the signal's reason if it aborts while waiting. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const release = (): void => {
      this.running--;
      this.next();
    };
    const once = (): (() => void) => {
      let done = false;
      return () => {
        if (!done) {
          done = true;
          release();
        }
      };
    };
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve(once());
    }
    return new Promise((resolve, reject) => {
      const entry = {
        start: () => {
          signal?.removeEventListener('abort', entry.onAbort);
          this.running++;
          resolve(once());
        },
        signal,
        onAbort: () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject((signal?.reason as Error | undefined) ?? new AgentError('cancelled', 'cancelled while waiting for a free CRIU slot'));
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Operations waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  private next(): void {
    if (this.running >= this.limit) return;
    this.waiting.shift()?.start();
  }
}
