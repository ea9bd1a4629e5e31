import { promises as fsp } from 'node:fs';
import type { TreeSnapshot } from './tree';

/**
 * Roughly what CRIU will write for the tree's memory: the anonymous and
 * shared-memory pages every process holds (RssAnon + RssShmem from
 * /proc/PID/status), which is what CRIU saves; file-backed pages it does not
 * copy are left out. status is read rather than smaps_rollup, which walks the
 * page tables (27 ms for a 2 GiB process) and has no shared-memory line.
 * Processes that vanish count as 0.
 */
export async function estimateMemoryBytes(s: TreeSnapshot): Promise<number> {
  const sizes = await Promise.all(
    s.processes.map(async (p) => {
      let text: string;
      try {
        text = await fsp.readFile(`/proc/${p.pid}/status`, 'utf8');
      } catch {
        return 0;
      }
      let bytes = 0;
      for (const field of ['RssAnon', 'RssShmem']) {
        const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
        if (m?.[1]) bytes += Number(m[1]) * 1024;
      }
      return bytes;
    }),
  );
  return sizes.reduce((a, b) => a + b, 0);
}

/** The root's command line (arguments split at NUL), or [] when it is gone or a zombie. */
export async function readCommandLine(pid: number): Promise<string[]> {
  try {
    const raw = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
  } catch {
    return [];
  }
}
