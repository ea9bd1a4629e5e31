import * as fs from 'node:fs';

/** How often the files are looked at (stat) for a change. */
const POLL_MS = 1000;
/** Files replaced one after the other change within moments: act once they settle. */
const SETTLE_MS = 200;

/**
 * Calls `onChange` once the files have settled after any of them changed.
 * Polled (fs.watchFile, which stats through symlinks) rather than watched with
 * inotify, which misses the symlink swap Kubernetes Secret and ConfigMap
 * volumes do. Returns the function that stops watching.
 */
export function watchFiles(files: readonly string[], onChange: () => void): () => void {
  let pending: NodeJS.Timeout | undefined;
  const changed = (): void => {
    clearTimeout(pending);
    pending = setTimeout(onChange, SETTLE_MS);
    pending.unref();
  };
  for (const f of files) fs.watchFile(f, { interval: POLL_MS, persistent: false }, changed);
  return () => {
    clearTimeout(pending);
    for (const f of files) fs.unwatchFile(f, changed);
  };
}
