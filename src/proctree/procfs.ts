import { readdir, readFile, readlink, stat } from 'node:fs/promises';

/**
 * Scheduler state of one task (thread), derived from field 3 of
 * /proc/PID/task/TID/stat. Sleeping, disk-sleep, idle, parked and waking
 * tasks all count as 'running': what matters to the agent is whether the task
 * is stopped by a signal, not whether it is on a CPU right now.
 * 'dead' is part of the type for callers that want to mark tasks that vanished;
 * the readers in this module never produce it ('X' maps to 'zombie', as the
 * task is past exit either way) and every classifier treats it like 'zombie'.
 */
export type TaskState = 'running' | 'stopped' | 'zombie' | 'dead';

/** One task (thread) of a process. */
export interface TaskInfo {
  tid: number;
  state: TaskState;
  /** The state letter exactly as the kernel printed it, e.g. 'S', 'T', 't', 'Z'. */
  rawState: string;
}

/** A process as read from /proc, with all its threads. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  /** All threads, main thread first, then ascending tid. */
  tasks: TaskInfo[];
}

/** The fields of /proc/PID/stat (or /proc/PID/task/TID/stat) this module uses. */
export interface ProcStat {
  /** Field 1: pid (or tid for a task's stat). */
  pid: number;
  /** Field 2, without the parentheses. May contain spaces and ')'. */
  comm: string;
  /** Field 3, the single state letter. */
  state: string;
  /** Field 4. */
  ppid: number;
  /** Field 5: process-group id. */
  pgrp: number;
  /** Field 6: session id. */
  session: number;
  /** Field 9: PF_* flags of the task. */
  flags: number;
}

/** PF_KTHREAD from include/linux/sched.h. */
export const PF_KTHREAD = 0x00200000;

/** PF_EXITING from include/linux/sched.h: set once the task entered do_exit(). */
export const PF_EXITING = 0x00000004;

/** Thrown by {@link parseStat} for text that is not a stat line. */
export class ProcStatParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProcStatParseError';
  }
}

/**
 * Parses one /proc stat line. The comm field is user-controlled (prctl
 * PR_SET_NAME, argv[0]) and may contain spaces, '(' and ')', so the line is
 * split at the LAST ')': nothing after comm can contain one.
 * @throws ProcStatParseError when the text is not a stat line.
 */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) {
    throw new ProcStatParseError(`malformed stat line: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const pid = Number(text.slice(0, open));
  const comm = text.slice(open + 2, close);
  const rest = fieldsAfterComm(text, close);
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const session = Number(rest[3]);
  const flags = Number(rest[6]);
  if (!Number.isInteger(pid) || state === undefined || state.length !== 1 || ![ppid, pgrp, session, flags].every(Number.isInteger)) {
    throw new ProcStatParseError(`malformed stat line: ${JSON.stringify(text.slice(0, 80))}`);
  }
  return { pid, comm, state, ppid, pgrp, session, flags };
}

/** Fields 3 and on of a stat line (index 0 is field 3), split after the comm's closing parenthesis. */
function fieldsAfterComm(text: string, close = text.lastIndexOf(')')): string[] {
  return text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
}

/**
 * Process start time in clock ticks since boot (stat field 22): with the pid,
 * it names one process across pid reuse. Null when the process is gone.
 */
export async function readStartTime(pid: number): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const v = Number(fieldsAfterComm(text)[19]);
  return Number.isInteger(v) ? v : null;
}

/**
 * Maps a stat state letter to a {@link TaskState}. 'x' is the pre-3.x spelling
 * of 'X'; every letter not listed (R, S, D, I, W, P, K, ...) is a task that is
 * not stopped.
 */
export function mapTaskState(raw: string): TaskState {
  switch (raw) {
    case 'T':
    case 't':
      return 'stopped';
    case 'Z':
    case 'X':
    case 'x':
      return 'zombie';
    default:
      return 'running';
  }
}

/** True for a task that has exited (zombie or dead). */
export function isExitedTask(t: TaskInfo): boolean {
  return t.state === 'zombie' || t.state === 'dead';
}

/**
 * True when the process has exited and only its zombie remains. A process whose
 * main thread exited with pthread_exit while other threads run shows a 'Z'
 * main task but is alive, hence "every task", not "the main task".
 */
export function isZombieProcess(p: ProcessInfo): boolean {
  return p.tasks.every(isExitedTask);
}

/** @throws RangeError for anything that is not a positive integer pid. */
export function assertPid(pid: number): void {
  // Guards against /proc/NaN lookups and, worse, kill(0 or -n) signalling whole
  // process groups.
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new RangeError(`invalid pid: ${String(pid)}`);
  }
}

/**
 * True for errors meaning "the process or task is gone": the directory entry
 * disappeared (ENOENT), or the task exited between open and read (ESRCH).
 */
export function isGoneError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null || !('code' in e)) return false;
  const code = (e as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/** Reads a /proc file, null when the process or task is gone. */
async function readProcFile(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e: unknown) {
    if (isGoneError(e)) return null;
    throw e;
  }
}

/** Parsed /proc/PID/stat of a process or thread; null when it does not exist. */
export async function readStat(pid: number): Promise<ProcStat | null> {
  assertPid(pid);
  const text = await readProcFile(`/proc/${pid}/stat`);
  return text === null ? null : parseStat(text);
}

/** Parsed /proc/PID/task/TID/stat; null when the task does not exist. */
async function readTaskStat(pid: number, tid: number): Promise<ProcStat | null> {
  const text = await readProcFile(`/proc/${pid}/task/${tid}/stat`);
  return text === null ? null : parseStat(text);
}

/** Tgid from /proc/PID/status: equals pid only for a thread-group leader. */
async function readTgid(pid: number): Promise<number | null> {
  const text = await readProcFile(`/proc/${pid}/status`);
  if (text === null) return null;
  const m = /^Tgid:\s*(\d+)$/m.exec(text);
  return m?.[1] === undefined ? null : Number(m[1]);
}

/** Tids listed in /proc/PID/task; null when the process is gone. */
async function listTids(pid: number): Promise<number[] | null> {
  try {
    const names = await readdir(`/proc/${pid}/task`);
    return names
      .map(Number)
      .filter((n) => Number.isSafeInteger(n) && n > 0)
      .sort((a, b) => a - b);
  } catch (e: unknown) {
    if (isGoneError(e)) return null;
    throw e;
  }
}

/**
 * Reads one process; null when it does not exist. A zombie is reported with
 * its zombie task(s). A tid of a non-main thread is not a process and yields
 * null too (/proc/TID is reachable for threads even though readdir hides it).
 * @throws RangeError for an invalid pid.
 */
export async function readProcess(pid: number): Promise<ProcessInfo | null> {
  assertPid(pid);
  const tgid = await readTgid(pid);
  if (tgid !== pid) return null;
  const main = await readStat(pid);
  if (main === null) return null;
  const tids = await listTids(pid);
  if (tids === null) return null;
  const tasks: TaskInfo[] = [];
  for (const tid of [pid, ...tids.filter((t) => t !== pid)]) {
    // The main task's own entry in task/ is read too (not reused from `main`)
    // so that all tasks are sampled the same way, as close together as possible.
    const st = await readTaskStat(pid, tid);
    if (st === null) continue; // thread exited meanwhile
    tasks.push({ tid, state: mapTaskState(st.state), rawState: st.state });
  }
  // The main task outlives all threads (as a zombie at least), so losing it
  // means the whole process was reaped between the reads.
  if (tasks[0]?.tid !== pid) return null;
  return { pid, ppid: main.ppid, comm: main.comm, tasks };
}

/**
 * Pids listed in /proc/PID/task/TID/children, i.e. the children this one
 * thread forked (and that were not reparented since). Empty when the task is
 * gone: its children then show up under whichever task they were reparented to.
 */
export async function readTaskChildren(pid: number, tid: number): Promise<number[]> {
  const text = await readProcFile(`/proc/${pid}/task/${tid}/children`);
  if (text === null) return [];
  return text
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number)
    .filter((n) => Number.isSafeInteger(n) && n > 0);
}

/**
 * True while anything (including a zombie, or a thread whose tid has this
 * number) holds the pid: any of them blocks CRIU from restoring a task with it.
 * @throws RangeError for an invalid pid.
 */
export async function pidInUse(pid: number): Promise<boolean> {
  assertPid(pid);
  try {
    await stat(`/proc/${pid}`);
    return true;
  } catch (e: unknown) {
    if (isGoneError(e)) return false;
    throw e;
  }
}

/** Resolves after ms milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until the pid is free (e.g. a killed tree's zombie root got reaped by
 * its parent; PID 1 here reaps orphans only every 1-2 s). Resolves true if
 * freed within timeoutMs, false otherwise; checks at least once.
 * @throws RangeError for an invalid pid.
 */
export async function waitForPidFree(pid: number, timeoutMs: number, pollMs = 20): Promise<boolean> {
  assertPid(pid);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await pidInUse(pid))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}

/**
 * True for kernel threads, which the agent must refuse. PF_KTHREAD (stat field
 * 9) is authoritative; a missing /proc/PID/exe target is taken as a second
 * sign only for a task that is neither a zombie nor exiting (PF_EXITING),
 * because those have dropped their mm and exe as well. False when the
 * pid does not exist.
 * @throws RangeError for an invalid pid.
 */
export async function isKernelThread(pid: number): Promise<boolean> {
  const st = await readStat(pid);
  if (st === null) return false;
  if ((st.flags & PF_KTHREAD) !== 0) return true;
  if (mapTaskState(st.state) === 'zombie' || (st.flags & PF_EXITING) !== 0) return false;
  try {
    await readlink(`/proc/${pid}/exe`);
    return false;
  } catch (e: unknown) {
    if (!isGoneError(e)) return false; // EACCES etc. says nothing about the task
    // ENOENT either because there is no mm or because the process just
    // vanished; only the first makes it a kernel thread.
    const again = await readStat(pid);
    return again !== null && mapTaskState(again.state) !== 'zombie' && (again.flags & PF_EXITING) === 0;
  }
}

/**
 * Session id and process-group id of pid (stat fields 6 and 5), to tell
 * callers whether the target is a session leader (CRIU needs shell_job
 * otherwise). Null when the pid does not exist.
 * @throws RangeError for an invalid pid.
 */
export async function sessionInfo(pid: number): Promise<{ sid: number; pgid: number } | null> {
  const st = await readStat(pid);
  return st === null ? null : { sid: st.session, pgid: st.pgrp };
}

/**
 * Clock ticks since boot now, on the clock of stat's start time (USER_HZ,
 * 100 on Linux): a process whose start time is at least this was created
 * after this moment. Rounded down, so a process started in the same tick counts.
 */
export async function bootTicksNow(): Promise<number> {
  const uptime = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
  return Math.floor(uptime * 100) - 1;
}

/**
 * SIGKILLs every process holding one of `pids` that started at or after
 * `sinceTicks` (bootTicksNow): tasks created from that moment, never an older
 * process that happens to hold such a pid. Returns the pids killed.
 */
export async function killProcessesSince(pids: readonly number[], sinceTicks: number): Promise<number[]> {
  const killed: number[] = [];
  for (const pid of pids) {
    const start = await readStartTime(pid);
    if (start === null || start < sinceTicks) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}

/** A process whose environment carries `NAME=value`. */
export interface MarkedProcess {
  pid: number;
  pgid: number;
  comm: string;
  state: string;
  startTime: number;
}

/**
 * Every process named `comm` whose initial environment holds exactly
 * `name=value` (/proc/PID/environ). The agent marks the CRIU processes it
 * starts so: forks of CRIU inherit the mark, processes of other agents and
 * tools do not have it.
 */
export async function findMarkedProcesses(comm: string, name: string, value: string): Promise<MarkedProcess[]> {
  const want = `${name}=${value}`;
  const out: MarkedProcess[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) continue;
    const st = await readStat(pid).catch(() => null);
    if (!st || st.comm !== comm) continue;
    let env: Buffer;
    try {
      env = await readFile(`/proc/${pid}/environ`);
    } catch {
      continue;
    }
    if (!env.toString('latin1').split('\0').includes(want)) continue;
    const startTime = await readStartTime(pid);
    if (startTime === null) continue;
    out.push({ pid, pgid: st.pgrp, comm: st.comm, state: st.state, startTime });
  }
  return out;
}
