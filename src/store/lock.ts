import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadAddon } from '../native/addon';

export const LOCK_FILE = 'agent.lock';

/** Another live agent holds the state directory. */
export class StateDirBusyError extends Error {
  override name = 'StateDirBusyError';
}

/** Kept open (and so locked) for the life of the process. */
let held: { dir: string; fd: number } | undefined;

/**
 * Takes an exclusive lock on <stateDir>/agent.lock for the life of this
 * process (flock: released by the kernel however the process ends), and
 * writes this pid into it. Two agents on one state directory would sweep
 * each other's temporary checkpoints and CRIU processes as leftovers.
 * @throws StateDirBusyError naming the other agent's pid.
 */
export function lockStateDir(stateDir: string): void {
  const dir = path.resolve(stateDir);
  if (held?.dir === dir) return;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, LOCK_FILE);
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  let taken: boolean;
  try {
    taken = loadAddon().tryLockExclusive(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  if (!taken) {
    const other = fs.readFileSync(file, 'utf8').trim();
    fs.closeSync(fd);
    throw new StateDirBusyError(
      `another criu-agent${/^\d+$/.test(other) ? ` (pid ${other})` : ''} is using the state directory ${dir} (it holds ${file}); ` +
        'stop it first, or give this agent another --state-dir',
    );
  }
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, `${process.pid}\n`, 0);
  held = { dir, fd };
}
