/**
 * A small seeded PRNG (mulberry32) so that a soak's choices replay from its
 * seed. Each worker and the fault schedule draw from a stream of their own,
 * so the choices of one do not shift when another's calls take longer.
 */
export class Rng {
  private state: number;

  constructor(seed: number, stream = 0) {
    // Mix the stream in (splitmix-style) so nearby seeds and streams diverge.
    let s = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b) >>> 0;
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
    this.state = (s ^ (s >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element, or undefined for an empty list. */
  pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[Math.floor(this.next() * xs.length)];
  }

  /** One item, with probability proportional to weight(item); undefined when all weights are 0. */
  weighted<T>(xs: readonly T[], weight: (x: T) => number): T | undefined {
    const total = xs.reduce((a, x) => a + Math.max(0, weight(x)), 0);
    if (total <= 0) return undefined;
    let r = this.next() * total;
    for (const x of xs) {
      r -= Math.max(0, weight(x));
      if (r < 0) return x;
    }
    return xs[xs.length - 1];
  }

  /** A short random tag for checkpoint ids. */
  tag(): string {
    return Math.floor(this.next() * 0x100000000)
      .toString(36)
      .padStart(7, '0');
  }
}
