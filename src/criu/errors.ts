import { constants as osConstants } from 'node:os';
import { AgentError, type ErrorKind } from '../errors';
import type { CriuLogSummary } from './log';

export type CriuOperation = 'dump' | 'pre-dump' | 'restore' | 'check';

/**
 * What a known CRIU failure means for the caller: a status kind and a
 * sentence saying what to do. Matched on CRIU's log lines, which are stable
 * across CRIU 3.x and 4.x, then on errno.
 */
interface Rule {
  ops: CriuOperation[];
  match: RegExp;
  kind: ErrorKind;
  /** What to do; a function of the match when the words depend on what CRIU reported. */
  hint: string | ((m: RegExpExecArray) => string);
}

/** CRIU names files relative to the root of the mount namespace ("tmp/x.log"): the caller knows them as "/tmp/x.log". */
function absolute(p: string): string {
  return p.startsWith('/') ? p : `/${p}`;
}

const RULES: Rule[] = [
  {
    ops: ['dump', 'pre-dump'],
    match: /session leader|is outside of the dump|shell[- ]job|Found dangling tty/i,
    kind: 'failed-precondition',
    hint: 'the tree is not a session of its own (it was started from a shell or without setsid): set options.shell_job, or start the target as a session leader (setsid)',
  },
  {
    ops: ['dump', 'pre-dump'],
    match: /External socket is used|Can't dump half of stream unix connection/i,
    kind: 'failed-precondition',
    hint:
      'a unix socket of the tree is connected to a process outside it (often stdio sockets of the program that started it, such as Node\'s default stdio pipes): ' +
      'start the target with stdio on files, pipes or /dev/null, or name each such socket in options.external as "unix[INODE]" (the inode from /proc/PID/fd; ' +
      'options.ext_unix_sk covers datagram sockets only); restoring it then needs its peer back',
  },
  {
    ops: ['dump', 'pre-dump'],
    match: /Connected TCP socket|tcp-established/i,
    kind: 'failed-precondition',
    hint: 'the tree has established TCP connections: set options.tcp_established (and the same at restore), or options.tcp_close to drop them',
  },
  {
    ops: ['dump', 'pre-dump'],
    match: /soft.?dirty|Dirty (memory )?track|mem_dirty_track/i,
    kind: 'failed-precondition',
    hint: 'the kernel has no soft-dirty memory tracking (CONFIG_MEM_SOFT_DIRTY), which pre-dumps and incremental dumps need',
  },
  {
    ops: ['dump', 'pre-dump'],
    match: /No space left on device|ENOSPC|Disk quota exceeded/i,
    kind: 'resource-exhausted',
    hint: 'the state directory ran out of space while CRIU wrote the images; the partial checkpoint was removed and the tree left running: free some space (DeleteCheckpoint) or use a larger state directory',
  },
  {
    ops: ['restore'],
    match: /File exists|EEXIST|pid .* (is )?busy|Can't fork for|set_tid|Pid \d+ do not match expected/i,
    kind: 'already-exists',
    hint: 'a pid of the checkpointed tree is in use on this node; if the tree was just dumped with final state DEAD, its root may still be a zombie until its parent reaps it: wait and retry',
  },
  {
    // criu/files-reg.c validate_file(): CRIU records the size of every regular
    // file the tree has open (except ones open write-only with O_APPEND, see
    // should_check_size()) and refuses to reopen one whose size changed. No
    // CRIU option turns the size check off (--skip-file-rwx-check covers the
    // mode check only), so the remedy is the file or the workload.
    ops: ['restore'],
    match: /File (\S+) has bad size (\d+) \(expect (\d+)\)/,
    kind: 'failed-precondition',
    hint: (m) => {
      const [, file = '', now = '', then = ''] = m;
      return (
        `the file ${absolute(file)}, open in the checkpointed tree, has changed since the dump: ${then} bytes then, ${now} now, and CRIU reopens files by path and refuses one whose size changed ` +
        '(a tree that ran on after the dump, with final state RUNNING or after Continue, or another process, wrote to it). ' +
        `Put back the content ${absolute(file)} had at the dump, or checkpoint workloads whose files nothing outside the checkpoint keeps writing; ` +
        'CRIU records no size for a file open write-only for appending (O_WRONLY|O_APPEND, a shell\'s >>), such as a log, and no CRIU option skips the check'
      );
    },
  },
  {
    ops: ['restore'],
    match: /File (\S+) has bad mode (0[0-7]+) \(expect (0[0-7]+)\)/,
    kind: 'failed-precondition',
    hint: (m) =>
      `the mode of ${absolute(m[1] ?? '')}, open in the checkpointed tree, changed since the dump (${m[3] ?? ''} then, ${m[2] ?? ''} now): ` +
      'put the mode back (chmod) before restoring',
  },
  {
    ops: ['dump', 'pre-dump'],
    match: /No such process|Can't read \/proc\/\d+\/stat|Unable to seize|Can't attach to/i,
    kind: 'not-found',
    hint: 'the process exited or could not be attached to while CRIU was seizing it',
  },
];

const ERRNO_KINDS: Record<number, ErrorKind> = {
  [osConstants.errno.ESRCH]: 'not-found',
  [osConstants.errno.ENOSPC]: 'resource-exhausted',
  [osConstants.errno.EDQUOT]: 'resource-exhausted',
  [osConstants.errno.EPERM]: 'permission-denied',
};

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

export interface CriuFailure {
  op: CriuOperation;
  /** cr_errno from CRIU's reply; 0 when CRIU did not set it. */
  errno: number;
  log: CriuLogSummary;
  logPath?: string;
}

/** Turns a failed CRIU reply into an AgentError with CRIU's own error lines and what to do. */
export function classifyCriuFailure(f: CriuFailure): AgentError {
  const text = [...f.log.errors, ...f.log.tail].join('\n');
  let m: RegExpExecArray | null = null;
  const rule = RULES.find((r) => r.ops.includes(f.op) && (m = r.match.exec(text)) !== null);
  const kind: ErrorKind = rule?.kind ?? ERRNO_KINDS[f.errno] ?? 'internal';
  const parts = [`CRIU ${f.op} failed`];
  if (f.errno) parts[0] += ` (${errnoName(f.errno)})`;
  if (rule && m) parts.push(typeof rule.hint === 'string' ? rule.hint : rule.hint(m));
  const lines = f.log.errors.length ? f.log.errors : f.log.tail;
  if (lines.length) parts.push(`CRIU said: ${lines.join(' | ')}`);
  if (f.logPath) parts.push(`full log: ${f.logPath}`);
  return new AgentError(kind, parts.join('; '), {
    details: { criuErrno: f.errno || undefined, criuLog: f.logPath },
  });
}
