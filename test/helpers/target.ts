import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { packageRoot } from '../../src/paths';
import { waitForPidFree } from '../../src/proctree';

/**
 * Absolute path of the Python target script; from the package root, not
 * this file, because the soak runs this helper compiled under dist/.
 */
export const TARGET_SCRIPT = path.join(packageRoot, 'test', 'fixtures', 'target.py');

/** The JSON line a target answers each connection with. */
export interface TargetState {
  pid: number;
  counter: number;
  children: number[];
  /** threading.active_count() of the root: main, counter and server threads. */
  threads: number;
  mem_sha256_at_start: string;
  mem_sha256_now: string;
}

/** A running target tree started by {@link startTarget}. */
export interface Target {
  /** Pid of the root, a session and process-group leader. */
  readonly pid: number;
  /** TCP port on 127.0.0.1 the root answers on. */
  readonly port: number;
  /** Pids of the forked children, in fork order. */
  readonly childPids: readonly number[];
  /** Root and children. */
  readonly allPids: readonly number[];
  /** Temp dir of this target (ready file), removed by kill(). */
  readonly dir: string;
  /**
   * Connects, reads the JSON line, and closes. The connection never outlives
   * the call, so it cannot get caught in a dump.
   * Do not query a STOPPED target that is about to be dumped: the
   * connection stays unaccepted in the listen queue and CRIU refuses to dump
   * in-flight connections.
   * @param timeoutMs default 3000
   * @throws Error on timeout, refusal or a malformed answer.
   */
  query(timeoutMs?: number): Promise<TargetState>;
  /**
   * SIGKILLs the whole tree (process group, then each known pid), tolerating
   * ESRCH, waits until every known pid is free, and removes the temp dir.
   * Idempotent.
   * @throws Error if a pid is still in use after the wait.
   */
  kill(): Promise<void>;
}

/** Options of {@link startTarget}. */
export interface StartTargetOptions {
  /** Number of children the root forks; default 2. */
  children?: number;
  /** How long to wait for the ready file; default 15000 ms. */
  readyTimeoutMs?: number;
  /** MiB of extra memory the root fills with a pattern, for dumps that take a while; default 0. */
  extraMiB?: number;
  /**
   * A directory in which every process of the tree renames its entry
   * (<pid>.<n> to <pid>.<n+1>) every few ms while it runs: the listing
   * changes whenever any of it ran (see target.py). Default: none.
   */
  witnessDir?: string;
}

const registry = new Set<Target>();

// Orphaned children are reaped by PID 1, which here does so only every 1-2 s.
const PID_FREE_TIMEOUT_MS = 10000;

function errnoCode(e: unknown): unknown {
  return typeof e === 'object' && e !== null && 'code' in e ? (e as { code?: unknown }).code : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (e: unknown) {
    if (errnoCode(e) !== 'ESRCH') throw e;
  }
}

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x));
}

function parseTargetState(line: string, where: string): TargetState {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`${where}: answer is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
  }
  const o = v as Partial<Record<keyof TargetState, unknown>> | null;
  if (
    o === null ||
    typeof o !== 'object' ||
    !Number.isSafeInteger(o.pid) ||
    !Number.isSafeInteger(o.counter) ||
    !isIntArray(o.children) ||
    !Number.isSafeInteger(o.threads) ||
    typeof o.mem_sha256_at_start !== 'string' ||
    typeof o.mem_sha256_now !== 'string'
  ) {
    throw new Error(`${where}: unexpected answer: ${line.slice(0, 500)}`);
  }
  return o as TargetState;
}

/** Connects to a target's port and reads its one-line JSON answer. */
export function queryTarget(pid: number, port: number, timeoutMs = 3000): Promise<TargetState> {
  const where = `target pid ${pid} at 127.0.0.1:${port}`;
  return new Promise<TargetState>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const sock = net.connect({ host: '127.0.0.1', port });
    const finish = (err: Error | null, state?: TargetState): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err !== null) reject(err);
      else if (state !== undefined) resolve(state);
    };
    const timer = setTimeout(() => {
      finish(new Error(`${where}: no answer within ${timeoutMs} ms (stopped, frozen, or not serving?)`));
    }, timeoutMs);
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.on('error', (e: Error) => {
      if (errnoCode(e) === 'ECONNREFUSED') {
        finish(new Error(`${where}: connection refused (target dead or socket not restored?)`));
      } else {
        finish(new Error(`${where}: ${e.message}`));
      }
    });
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const nl = text.indexOf('\n');
      if (nl < 0) {
        finish(new Error(`${where}: connection closed before a full line: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      try {
        finish(null, parseTargetState(text.slice(0, nl), where));
      } catch (e: unknown) {
        finish(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

interface ReadyInfo {
  pid: number;
  port: number;
  children: number[];
}

async function readReady(file: string): Promise<ReadyInfo | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e: unknown) {
    if (errnoCode(e) === 'ENOENT') return null;
    throw e;
  }
  const v = JSON.parse(text) as Partial<Record<keyof ReadyInfo, unknown>>;
  if (!Number.isSafeInteger(v.pid) || !Number.isSafeInteger(v.port) || !isIntArray(v.children)) {
    throw new Error(`malformed ready file ${file}: ${text}`);
  }
  return v as ReadyInfo;
}

async function readErrorFile(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Starts target.py as a new session leader (detached: CRIU needs a session
 * leader unless shell_job is set) with stdio on /dev/null (Node's default
 * pipes would be external unix sockets, which CRIU refuses), and resolves once
 * the root listens and all children run their second thread.
 * @throws Error if the target exits or is not ready within readyTimeoutMs.
 */
export async function startTarget(opts: StartTargetOptions = {}): Promise<Target> {
  const children = opts.children ?? 2;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15000;
  if (!Number.isSafeInteger(children) || children < 0) {
    throw new RangeError(`invalid children count: ${String(children)}`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'criu-target-'));
  const readyFile = path.join(dir, 'ready.json');
  const child = spawn(
    '/usr/bin/python3',
    // -B: no .pyc writes, which would be file writes after start-up.
    [
      '-B',
      TARGET_SCRIPT,
      '--ready-file',
      readyFile,
      '--children',
      String(children),
      '--extra-mib',
      String(opts.extraMiB ?? 0),
      ...(opts.witnessDir ? ['--witness-dir', opts.witnessDir] : []),
    ],
    { detached: true, stdio: 'ignore' },
  );
  // An object, not two lets: TypeScript would keep them narrowed to null
  // across the awaits below, not seeing the callbacks' assignments.
  const fate: { exited: string | null; spawnError: Error | null } = {
    exited: null,
    spawnError: null,
  };
  child.on('exit', (code, signal) => {
    fate.exited = signal !== null ? `signal ${signal}` : `exit code ${String(code)}`;
  });
  child.on('error', (e: Error) => {
    fate.spawnError = e;
  });
  child.unref();

  const rootPid = child.pid;
  const cleanupFailedStart = async (): Promise<void> => {
    if (rootPid !== undefined) {
      killQuietly(-rootPid, 'SIGKILL');
      killQuietly(rootPid, 'SIGKILL');
      await waitForPidFree(rootPid, PID_FREE_TIMEOUT_MS);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  let ready: ReadyInfo | null = null;
  for (;;) {
    try {
      ready = await readReady(readyFile);
    } catch (e: unknown) {
      await cleanupFailedStart();
      throw e;
    }
    if (ready !== null) break;
    const failure: string | null =
      fate.spawnError !== null
        ? `spawn failed: ${fate.spawnError.message}`
        : fate.exited !== null
          ? `exited before ready (${fate.exited})`
          : Date.now() >= deadline
            ? `not ready within ${readyTimeoutMs} ms`
            : null;
    if (failure !== null) {
      const trace = await readErrorFile(`${readyFile}.error`);
      await cleanupFailedStart();
      throw new Error(`target.py ${failure}${trace !== null ? `:\n${trace}` : ''}`);
    }
    await sleep(20);
  }
  if (ready.pid !== rootPid) {
    await cleanupFailedStart();
    throw new Error(`ready file names pid ${ready.pid}, spawned ${String(rootPid)}`);
  }

  const info = ready;
  let killed = false;
  const target: Target = {
    pid: info.pid,
    port: info.port,
    childPids: [...info.children],
    allPids: [info.pid, ...info.children],
    dir,
    query: (timeoutMs?: number) => queryTarget(info.pid, info.port, timeoutMs),
    kill: async () => {
      if (killed) return;
      killed = true;
      registry.delete(target);
      // The group first, so that no child can act on its parent's death
      // before being killed; then each pid, in case one changed group (a
      // restored tree, or a test that moved it).
      killQuietly(-info.pid, 'SIGKILL');
      for (const pid of target.allPids) killQuietly(pid, 'SIGKILL');
      const stuck: number[] = [];
      for (const pid of target.allPids) {
        if (!(await waitForPidFree(pid, PID_FREE_TIMEOUT_MS))) stuck.push(pid);
      }
      await rm(dir, { recursive: true, force: true });
      if (stuck.length > 0) {
        throw new Error(`target ${info.pid}: pids still in use ${PID_FREE_TIMEOUT_MS} ms after SIGKILL: ${stuck.join(', ')}`);
      }
    },
  };
  registry.add(target);
  return target;
}

/** Kills every target started and not yet killed; call from afterAll. */
export async function killAllTargets(): Promise<void> {
  const errors: unknown[] = [];
  for (const t of [...registry]) {
    try {
      await t.kill();
    } catch (e: unknown) {
      errors.push(e);
    }
  }
  if (errors.length > 0) {
    throw new AggregateError(errors, `killAllTargets: ${errors.length} target(s) failed to die`);
  }
}
