/**
 * What the soak reads of /proc, and the only places it signals processes.
 *
 * Other agents, CRIU runs and targets share this machine, so the soak never
 * signals a pid it cannot prove is its own: a pid is named together with the
 * start time it had when the soak took it on (field 22 of /proc/PID/stat),
 * and a signal goes out only while both still match.
 */
import { promises as fsp } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { parseStat, readStartTime } from '../../src/proctree';

/** One process as the soak's scans see it. */
export interface ProcRow {
  pid: number;
  ppid: number;
  comm: string;
  /** Letter of field 3 of the main thread: 'T'/'t' stopped or traced, 'Z' zombie. */
  state: string;
}

/** Every process on the machine (a snapshot; processes come and go while it is taken). */
export async function processTable(): Promise<Map<number, ProcRow>> {
  const out = new Map<number, ProcRow>();
  for (const name of await fsp.readdir('/proc')) {
    const pid = Number(name);
    if (!Number.isSafeInteger(pid) || pid <= 0) continue;
    try {
      const st = parseStat(await fsp.readFile(`/proc/${pid}/stat`, 'utf8'));
      out.set(pid, { pid, ppid: st.ppid, comm: st.comm, state: st.state });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The descendants of root in table (root excluded), each with its depth below root. */
export function descendants(table: Map<number, ProcRow>, root: number): ProcRow[] {
  const children = new Map<number, ProcRow[]>();
  for (const p of table.values()) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const out: ProcRow[] = [];
  const queue = [root];
  const seen = new Set<number>([root]);
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const c of children.get(pid) ?? []) {
      if (seen.has(c.pid)) continue;
      seen.add(c.pid);
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

/** A pid together with the start time that makes it this process and no later one. */
export interface OwnedPid {
  pid: number;
  startTime: number;
}

/** Takes a pid on as the soak's own; null when it is gone already. */
export async function own(pid: number): Promise<OwnedPid | null> {
  const startTime = await readStartTime(pid);
  return startTime === null ? null : { pid, startTime };
}

/** True while the pid still names the process that was owned (a zombie included). */
export async function stillSame(p: OwnedPid): Promise<boolean> {
  return (await readStartTime(p.pid)) === p.startTime;
}

/**
 * Sends a signal to an owned process, only if the pid still names it.
 * Returns whether it was sent.
 */
export async function signalOwned(p: OwnedPid, signal: NodeJS.Signals): Promise<boolean> {
  if (!(await stillSame(p))) return false;
  try {
    process.kill(p.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Per-task scheduler letters and the TracerPid of each task of pid; null when the process is gone. */
export async function taskStates(pid: number): Promise<{ tid: number; state: string; tracer: number }[] | null> {
  let tids: string[];
  try {
    tids = await fsp.readdir(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const out: { tid: number; state: string; tracer: number }[] = [];
  for (const t of tids) {
    try {
      const st = parseStat(await fsp.readFile(`/proc/${pid}/task/${t}/stat`, 'utf8'));
      const status = await fsp.readFile(`/proc/${pid}/task/${t}/status`, 'utf8');
      const tracer = Number(/^TracerPid:\s*(\d+)/m.exec(status)?.[1] ?? '0');
      out.push({ tid: Number(t), state: st.state, tracer });
    } catch {
      // thread exited
    }
  }
  return out;
}

/**
 * Whether the cgroup v2 of pid is frozen (cgroup.events "frozen 1"). CRIU
 * freezes with ptrace here, but a freezer left set would stop a tree just
 * as surely, without showing in the task states.
 */
export async function cgroupFrozen(pid: number): Promise<boolean> {
  try {
    const line = (await fsp.readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n').find((l) => l.startsWith('0::'));
    if (!line) return false;
    const events = await fsp.readFile(`/sys/fs/cgroup${line.slice(3)}/cgroup.events`, 'utf8');
    return /^frozen 1$/m.test(events);
  } catch {
    return false;
  }
}

/** Open descriptors of pid (entries of /proc/PID/fd); NaN when unreadable. */
export async function fdCount(pid: number): Promise<number> {
  try {
    return (await fsp.readdir(`/proc/${pid}/fd`)).length;
  } catch {
    return NaN;
  }
}

/** VmRSS of pid in bytes; NaN when unreadable. */
export async function rssBytes(pid: number): Promise<number> {
  try {
    const m = /^VmRSS:\s*(\d+) kB/m.exec(await fsp.readFile(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Files pid has open (targets of /proc/PID/fd links). */
export async function openPaths(pid: number): Promise<string[]> {
  let fds: string[];
  try {
    fds = await fsp.readdir(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const fd of fds) {
    try {
      out.push(await fsp.readlink(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * How a zombie died, from field 52 of /proc/PID/stat (its wait status):
 * "killed by SIGSEGV", "exit 1"; undefined when unreadable.
 */
export async function zombieFate(pid: number): Promise<string | undefined> {
  try {
    const text = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const status = Number(fields[49]);
    if (!Number.isInteger(status)) return undefined;
    const sig = status & 0x7f;
    if (sig === 0) return `exit ${(status >> 8) & 0xff}`;
    const name = Object.entries(osConstants.signals).find(([, n]) => n === sig)?.[0] ?? `signal ${sig}`;
    return `killed by ${name}${status & 0x80 ? ' (core dumped)' : ''}`;
  } catch {
    return undefined;
  }
}

/** The kernel's last allocated pid in this pid namespace. */
export async function lastPid(): Promise<number> {
  return Number((await fsp.readFile('/proc/sys/kernel/ns_last_pid', 'utf8')).trim());
}

/**
 * The pid a process has in the innermost pid namespace it belongs to (the
 * last field of NSpid in /proc/PID/status); undefined when unreadable.
 */
export function innermostPid(status: string): number | undefined {
  const line = /^NSpid:\s*(.*)$/m.exec(status)?.[1];
  const last = line?.trim().split(/\s+/).at(-1);
  const n = Number(last);
  return last !== undefined && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** A process of the second node, as the host sees it and as its own pid namespace names it. */
export interface NodeProc extends ProcRow {
  nsPid: number;
}

/** The processes of a namespaced node: descendants of its unshare pid, with their pids inside. */
export async function nodeProcesses(unsharePid: number): Promise<NodeProc[]> {
  const out: NodeProc[] = [];
  for (const p of descendants(await processTable(), unsharePid)) {
    try {
      const nsPid = innermostPid(await fsp.readFile(`/proc/${p.pid}/status`, 'utf8'));
      if (nsPid !== undefined) out.push({ ...p, nsPid });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
