import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { AgentError } from '../errors';
import type { criu_opts } from '../generated/criu/criu_opts';
import type { criu_req } from '../generated/criu/criu_req';
import type { criu_resp__Output } from '../generated/criu/criu_resp';
import { CriuCodec } from './codec';
import { classifyCriuFailure, type CriuOperation } from './errors';
import { summarizeLog } from './log';
import { CriuTransportError, type CriuLauncher, type CriuWorker } from './transport';

export interface CriuVersion {
  major: number;
  minor: number;
  sublevel: number;
  gitid: string;
  /** "4.2.1" */
  text: string;
}

export interface CriuFeatures {
  memTrack: boolean;
  lazyPages: boolean;
  pidfdStore: boolean;
}

/** One dump, pre-dump or restore. */
export interface CriuRun {
  /** Images directory: CRIU gets an fd on it (images_dir_fd), which every CRIU version accepts. */
  imagesDir: string;
  /** Log file name inside imagesDir (CRIU allows no sub-directories). */
  logFile: string;
  /** Everything else CRIU should do; images_dir_fd and log_file are filled in here. */
  opts: Omit<criu_opts, 'images_dir_fd' | 'log_file'>;
  /**
   * Aborting makes CRIU stop as soon as it safely can (see NOTIFY_ROLES): the
   * call then rejects with the signal's reason once CRIU has rolled back, or
   * resolves if CRIU was already past its last point of return.
   */
  signal?: AbortSignal;
  /** Aborts `signal`: the test-only fault hooks cancel through it, exactly as a client's cancel would. */
  cancel?: (reason: unknown) => void;
  /**
   * Runs at CRIU's 'commit' notification (post-dump, post-restore; see
   * NOTIFY_ROLES), before it is answered: the last moment at which CRIU can
   * still undo everything. If it rejects, CRIU is told to roll back and the
   * run rejects with that error once CRIU has done so.
   */
  atCommit?: () => Promise<void>;
  /**
   * Whether every task CRIU was asked to work on has died (from outside).
   * Polled until the 'commit' notification: CRIU can hang for good on a task
   * killed while it injects its parasite (seen in the soak: stuck after
   * "Parasite syscall_ip", the task a zombie only CRIU may reap), and no
   * cancel reaches it there. With nothing left alive to harm, CRIU is killed
   * and the run rejects with ABORTED.
   */
  treeGone?: () => Promise<boolean>;
}

/** How often, and how many times in a row, `treeGone` must say so before CRIU is killed. */
const TREE_GONE_POLL_MS = 1000;
const TREE_GONE_CONFIRMATIONS = 2;

/**
 * What CRIU does when the agent answers a notification (criu_notify) with
 * notify_success=false, per script name; checked in CRIU 4.2's sources.
 * CRIU sends a NOTIFY and blocks until the answer (cr-service.c
 * send_criu_rpc_script); a false answer, or a failed send or receive because
 * the agent is gone, makes run_scripts() fail (action-scripts.c).
 *
 * Dump (cr-dump.c cr_dump_tasks, cr_dump_finish; net.c):
 *   pre-dump         before CRIU touches the tree (nothing seized yet)   -> 'first'
 *   network-lock     tree seized (only when it has its own net ns)      -> 'rollback'
 *   query-ext-files  tree seized, no parasite yet                        -> 'rollback'
 *     ... then per task: parasite injected, state and memory dumped, parasite
 *     cured: no notification, and a SIGKILL of CRIU here leaves a task to
 *     run into the parasite's int3 and die of SIGTRAP ...
 *   post-dump        images written, parasites cured, tree still seized: false
 *                    makes CRIU resume the tree and report failure; true lets
 *                    it apply the final state (kill the tree for DEAD)       -> 'commit'
 *   network-unlock   after post-dump, answer ignored                     -> 'late'
 * Restore (cr-restore.c restore_root_task):
 *   pre-restore      before the first task is forked                    -> 'first'
 *   setup-namespaces, post-setup-namespaces (namespaces only): tasks exist;
 *                    false makes CRIU kill every task it created         -> 'rollback'
 *   post-restore     every task restored, none resumed: false makes CRIU
 *                    kill them all (out_kill)                            -> 'commit'
 *   pre-resume, post-resume: answers ignored, the tree resumes anyway    -> 'late'
 * A pre-dump (cr_pre_dump_tasks) sends no notification at all.
 *
 * So CRIU may be killed outright only before the agent has answered the
 * 'first' notification (it holds no tree yet; its process group goes, with
 * any helper it forked). From then on a cancel is kept until the next
 * 'rollback' or 'commit' notification and answered false there; once
 * 'commit' was answered true, CRIU finishes and the operation stands.
 */
export type NotifyRole = 'first' | 'rollback' | 'commit' | 'late';

export const NOTIFY_ROLES: Readonly<Record<'dump' | 'restore', Readonly<Record<string, NotifyRole>>>> = {
  dump: {
    'pre-dump': 'first',
    'network-lock': 'rollback',
    'query-ext-files': 'rollback',
    'post-dump': 'commit',
    'network-unlock': 'late',
  },
  restore: {
    'pre-restore': 'first',
    'setup-namespaces': 'rollback',
    'post-setup-namespaces': 'rollback',
    'post-restore': 'commit',
    'pre-resume': 'late',
    'post-resume': 'late',
  },
};

/**
 * What a test fault does at a notification (see faults.ts): cancel as a
 * client would, kill CRIU, kill the agent, fill the file system of the
 * images directory, or answer only after STALL_MS.
 */
export type FaultAction = 'cancel' | 'kill-criu' | 'kill-agent' | 'fill-disk' | 'stall';

/** TEST ONLY: how long the 'stall' fault holds the answer to a notification. */
export const STALL_MS = 6000;

/** Test-only hooks at CRIU's notifications; the agent has none unless CRIU_AGENT_TEST_FAULTS is set. */
export interface CriuFaults {
  /** The fault to inject when CRIU's notification `script` of `op` arrives ('before' answering it) or was just answered ('after'). */
  at(op: CriuOperation, script: string, when: 'before' | 'after'): FaultAction | undefined;
}

/** The agent's view of CRIU: one method per request type it uses. */
export interface CriuClient {
  /** e.g. "criu swrk (/usr/local/sbin/criu)" */
  readonly description: string;
  version(signal?: AbortSignal): Promise<CriuVersion>;
  features(signal?: AbortSignal): Promise<CriuFeatures>;
  dump(run: CriuRun): Promise<void>;
  /** One pre-dump per call (SINGLE_PRE_DUMP: PRE_DUMP would keep the connection waiting for more rounds). */
  preDump(run: CriuRun): Promise<void>;
  /** Returns the pid of the restored root. */
  restore(run: CriuRun): Promise<{ pid: number }>;
}

/**
 * What moving a tree between nodes needs of CRIU besides dumping and
 * restoring: the CPU check and a page server. Separate from CriuClient so that
 * only the migration services depend on it.
 */
export interface CriuMigration {
  /** CPUINFO_DUMP: writes cpuinfo.img (this node's CPU) into `dir`. */
  cpuinfoDump(dir: string, logFile: string, signal?: AbortSignal): Promise<void>;
  /** CPUINFO_CHECK against the cpuinfo.img in `dir`: false when this CPU cannot run what that one dumped. */
  cpuinfoCheck(dir: string, logFile: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * PAGE_SERVER: starts a CRIU page server (a daemon, not a child of the
   * agent) that writes the pages one dump sends into `dir` and then exits.
   * Returns its pid and port.
   */
  pageServer(dir: string, logFile: string, listen: { address: string; port: number }, signal?: AbortSignal): Promise<{ pid: number; port: number }>;
}

/** Speaks CRIU's RPC protocol, one worker (swrk child or service connection) per request. */
export class RpcCriuClient implements CriuClient, CriuMigration {
  private readonly codec = new CriuCodec();

  constructor(
    private readonly launcher: CriuLauncher,
    readonly description: string,
    private readonly faults?: CriuFaults,
  ) {}

  async version(signal?: AbortSignal): Promise<CriuVersion> {
    const resp = await this.call('check', { type: 'VERSION' }, signal);
    const v = resp.version;
    if (!resp.success || !v) throw new AgentError('unavailable', `${this.description} did not report its version`);
    const sublevel = v.sublevel ?? 0;
    return {
      major: v.major_number,
      minor: v.minor_number,
      sublevel,
      gitid: v.gitid ?? '',
      text: `${v.major_number}.${v.minor_number}${sublevel ? `.${sublevel}` : ''}`,
    };
  }

  async features(signal?: AbortSignal): Promise<CriuFeatures> {
    const resp = await this.call(
      'check',
      { type: 'FEATURE_CHECK', features: { mem_track: true, lazy_pages: true, pidfd_store: true } },
      signal,
    );
    if (!resp.success) throw new AgentError('unavailable', `${this.description} could not check kernel features`);
    const f = resp.features;
    return { memTrack: !!f?.mem_track, lazyPages: !!f?.lazy_pages, pidfdStore: !!f?.pidfd_store };
  }

  async dump(run: CriuRun): Promise<void> {
    await this.run('dump', 'DUMP', run);
  }

  async preDump(run: CriuRun): Promise<void> {
    await this.run('pre-dump', 'SINGLE_PRE_DUMP', run);
  }

  async restore(run: CriuRun): Promise<{ pid: number }> {
    const resp = await this.run('restore', 'RESTORE', run);
    const pid = resp.restore?.pid;
    if (!pid) throw new AgentError('internal', `CRIU reported a successful restore without a pid; log: ${run.imagesDir}/${run.logFile}`);
    return { pid };
  }

  async cpuinfoDump(dir: string, logFile: string, signal?: AbortSignal): Promise<void> {
    const resp = await this.withDir(dir, (fd) => this.call('check', { type: 'CPUINFO_DUMP', opts: { images_dir_fd: fd, log_file: logFile } }, signal));
    if (!resp.success) throw new AgentError('internal', `CRIU could not dump this node's CPU description; log: ${dir}/${logFile}`);
  }

  async cpuinfoCheck(dir: string, logFile: string, signal?: AbortSignal): Promise<boolean> {
    const resp = await this.withDir(dir, (fd) => this.call('check', { type: 'CPUINFO_CHECK', opts: { images_dir_fd: fd, log_file: logFile } }, signal));
    return resp.success;
  }

  async pageServer(dir: string, logFile: string, listen: { address: string; port: number }, signal?: AbortSignal): Promise<{ pid: number; port: number }> {
    signal?.throwIfAborted();
    // Not cancelled midway: the page server is a daemon in a session of its
    // own, which killing swrk does not reach; started for a call that is gone,
    // it would wait for a connection for good (seen in the soak, on the
    // second node). The start takes tens of ms; an abort is honoured after it.
    const resp = await this.withDir(dir, (fd) => this.call('check', { type: 'PAGE_SERVER', opts: { images_dir_fd: fd, log_file: logFile, ps: listen } }));
    // CRIU 4.2 reports the port it was given (port 0 cannot be used) and no
    // pid: its daemon is found by the title it sets, which names the port.
    const port = resp.ps?.port || listen.port;
    const pid = resp.ps?.pid || (resp.success ? await findPageServer(port) : undefined);
    if (!resp.success || !pid || !port) {
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      const log = await summarizeLog(`${dir}/${logFile}`);
      throw new AgentError('internal', `CRIU could not start a page server${log.errors.length ? `: ${log.errors.join(' | ')}` : ''}; log: ${dir}/${logFile}`);
    }
    if (signal?.aborted) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      throw signal.reason;
    }
    return { pid, port };
  }

  private async withDir<T>(dir: string, fn: (fd: number) => Promise<T>): Promise<T> {
    const fh = await fsp.open(dir, 'r');
    try {
      return await fn(fh.fd);
    } finally {
      await fh.close();
    }
  }

  private async run(op: CriuOperation, type: 'DUMP' | 'SINGLE_PRE_DUMP' | 'RESTORE', run: CriuRun): Promise<criu_resp__Output> {
    const logPath = `${run.imagesDir}/${run.logFile}`;
    const dir = await fsp.open(run.imagesDir, 'r');
    try {
      const resp = await this.call(op, { type, opts: { ...run.opts, images_dir_fd: dir.fd, log_file: run.logFile } }, run.signal, logPath, run);
      if (!resp.success) {
        throw classifyCriuFailure({ op, errno: resp.cr_errno ?? 0, log: await summarizeLog(logPath), logPath });
      }
      return resp;
    } finally {
      await dir.close();
    }
  }

  /**
   * Sends one request and returns CRIU's final reply, answering every NOTIFY
   * on the way (CRIU blocks until each is answered). On abort, CRIU is killed
   * only while that is harmless, else stopped at its next notification (see
   * NOTIFY_ROLES): the call settles only once CRIU is done with the tree.
   */
  private async call(
    op: CriuOperation,
    req: criu_req,
    signal?: AbortSignal,
    logPath?: string,
    hooks: Pick<CriuRun, 'cancel' | 'atCommit' | 'treeGone'> = {},
  ): Promise<criu_resp__Output> {
    const { cancel: cancelRun, atCommit, treeGone } = hooks;
    signal?.throwIfAborted();
    let worker: CriuWorker;
    try {
      worker = await this.launcher.open();
    } catch (err) {
      // No CRIU to talk to (binary missing, service socket gone): nothing was
      // done to any tree, and the call can be retried once CRIU is back.
      throw new AgentError('unavailable', `cannot reach CRIU (${this.description}): ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
    const roles = op === 'dump' ? NOTIFY_ROLES.dump : op === 'restore' ? NOTIFY_ROLES.restore : undefined;
    // Whether CRIU may be killed now: it holds no tree (see NOTIFY_ROLES).
    let killable = true;
    let cancel: unknown;
    let cancelled = false;
    let finished: criu_resp__Output | undefined;
    let commitFailure: { err: unknown } | undefined;
    const requestCancel = (reason: unknown): void => {
      if (cancelled) return;
      cancelled = true;
      cancel = reason;
      // Killing closes the channel: the pending receive fails and the catch below rethrows the reason.
      if (killable) worker.kill();
    };
    const onAbort = (): void => requestCancel(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let abandoned: AgentError | undefined;
    let goneSeen = 0;
    let committing = false;
    const watch = treeGone
      ? setInterval(() => {
          void treeGone()
            .then((gone) => {
              goneSeen = gone ? goneSeen + 1 : 0;
              if (goneSeen < TREE_GONE_CONFIRMATIONS || committing || finished || abandoned) return;
              abandoned = new AgentError(
                'aborted',
                `every process of the tree died during the ${op} (killed, or exited, from outside the agent); ` +
                  `CRIU, left waiting on them, was stopped, and nothing of the ${op} is kept`,
              );
              worker.kill();
            })
            .catch(() => undefined);
        }, TREE_GONE_POLL_MS)
      : undefined;
    const fault = async (script: string, when: 'before' | 'after'): Promise<void> => {
      const action = this.faults?.at(op, script, when);
      if (action === 'cancel') {
        const reason = new AgentError('cancelled', `test fault: ${op} cancelled ${when} CRIU's ${script} notification`);
        if (cancelRun) cancelRun(reason);
        else requestCancel(reason);
      }
      else if (action === 'kill-criu' && worker.pid) process.kill(worker.pid, 'SIGKILL');
      else if (action === 'kill-agent') process.kill(process.pid, 'SIGKILL');
      else if (action === 'fill-disk' && logPath) fillFileSystem(path.join(path.dirname(path.dirname(logPath)), FILL_FILE));
      else if (action === 'stall') await new Promise((resolve) => setTimeout(resolve, STALL_MS));
    };
    try {
      // A listener added to a signal that already fired never runs: an abort
      // while CRIU was starting must stop it here, before it gets the request.
      if (signal?.aborted) requestCancel(signal.reason);
      if (cancelled) throw cancel;
      worker.channel.send(this.codec.encodeRequest(req));
      // Without notifications CRIU seizes the tree unannounced (a pre-dump
      // always does): from the request on it must be left to finish.
      if (op !== 'check' && !(roles && req.opts?.notify_scripts)) killable = false;
      for (;;) {
        const resp = this.codec.decodeResponse(await worker.channel.receive());
        if (resp.type !== 'NOTIFY') {
          finished = resp;
          if (cancelled && !resp.success) throw cancel;
          if (commitFailure && !resp.success) throw commitFailure.err;
          return resp;
        }
        const script = resp.notify?.script ?? '';
        const role = roles?.[script];
        await fault(script, 'before');
        // From the commit on CRIU may kill the tree itself (DEAD): no longer a sign of a hang.
        if (role === 'commit') committing = true;
        // A cancel stops CRIU at the first notification it can still roll back at.
        let refuse = cancelled && (role === 'first' || role === 'rollback' || role === 'commit');
        if (role === 'commit' && atCommit && !refuse) {
          try {
            await atCommit();
          } catch (err) {
            commitFailure = { err };
            refuse = true;
          }
          // A cancel that came while the hook ran is too late: what it made stands.
        }
        worker.channel.send(this.codec.encodeRequest({ type: 'NOTIFY', notify_success: !refuse }));
        if (!refuse && role === 'first') killable = false;
        await fault(script, 'after');
      }
    } catch (err) {
      // CRIU was killed while it held nothing, or rolled back: the finally
      // below waits until it is gone, so the caller's cleanup comes after it.
      if (abandoned && err instanceof CriuTransportError) throw abandoned;
      if (cancelled && (err instanceof CriuTransportError || err === cancel)) throw cancel;
      if (err instanceof CriuTransportError) throw await this.workerDied(op, worker, err, logPath);
      throw err;
    } finally {
      if (watch) clearInterval(watch);
      signal?.removeEventListener('abort', onAbort);
      // After its final reply CRIU is idle and exits once the socket closes.
      // Otherwise it may still hold a tree: it sees the closed socket at its
      // next notification, rolls back and exits; it is never killed then.
      await worker.dispose(finished ? 5000 : null);
      // What a failed CRIU leaves in its process group (stopped kerndat
      // probes, helpers, tasks it was restoring) goes with it; never after a
      // success: tasks a restore puts in CRIU's group are the restored tree.
      if (!finished?.success) worker.kill();
    }
  }

  private async workerDied(op: CriuOperation, worker: CriuWorker, err: CriuTransportError, logPath?: string): Promise<AgentError> {
    // The socket failed: CRIU exited, or exits at its next notification.
    worker.channel.close();
    const exit = await worker.exited;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
    const stderr = exit.stderr.trim().split('\n').slice(-5).join(' | ');
    const log = logPath ? await summarizeLog(logPath) : undefined;
    const said = log?.errors.length ? log.errors.join(' | ') : stderr;
    return new AgentError(
      'internal',
      `CRIU ${op} failed: ${worker.description} ${how} before replying (${err.message})` +
        (said ? `; CRIU said: ${said}` : '') +
        (logPath ? `; full log: ${logPath}` : ''),
      { cause: err, details: { criuLog: logPath } },
    );
  }
}

/** TEST ONLY: the file the 'fill-disk' fault writes, next to the checkpoints (the test removes it). */
export const FILL_FILE = 'test-fill-disk';

/** Writes `file` until its file system has no byte left (ENOSPC). */
function fillFileSystem(file: string): void {
  const fd = fs.openSync(file, 'a');
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The start of a page server's /proc/PID/cmdline when swrk started it: CRIU
 * sets this title over its argv and environment, so the agent's owner mark
 * (CRIU_OWNER_ENV) is gone from it; its working directory is the images directory.
 */
const PAGE_SERVER_TITLE = 'criu: page-server';

/** Page servers running now: pid and title (spaces for NULs). */
export async function listPageServers(): Promise<{ pid: number; title: string }[]> {
  const found: { pid: number; title: string }[] = [];
  for (const name of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await fsp.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith(PAGE_SERVER_TITLE)) found.push({ pid: Number(name), title: cmd.replace(/\0/g, ' ').trimEnd() });
  }
  return found;
}

/** The pid of the CRIU page server daemon listening on `port` (its process title names it), if any. */
async function findPageServer(port: number): Promise<number | undefined> {
  const wanted = `--port ${port}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const ps = (await listPageServers()).find((p) => p.title.endsWith(wanted));
    if (ps) return ps.pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}
