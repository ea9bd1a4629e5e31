import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `probe` every `pollMs` until it gives a value (not undefined), which it returns; throws after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000, pollMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** Polls `cond` until it holds; throws after `timeoutMs`. */
export async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, pollMs = 50): Promise<void> {
  await waitFor(what, async () => ((await cond()) ? true : undefined), timeoutMs, pollMs);
}
