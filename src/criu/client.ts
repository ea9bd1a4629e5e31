import { promises as fsp } from 'node:fs';
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
  /** Aborting stops CRIU (the worker is killed). */
  signal?: AbortSignal;
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
    const resp = await this.withDir(dir, (fd) =>
      this.call('check', { type: 'PAGE_SERVER', opts: { images_dir_fd: fd, log_file: logFile, ps: listen } }, signal),
    );
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
      const resp = await this.call(
        op,
        { type, opts: { ...run.opts, images_dir_fd: dir.fd, log_file: run.logFile } },
        run.signal,
        logPath,
      );
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
   * on the way (CRIU blocks until each is answered).
   */
  private async call(op: CriuOperation, req: criu_req, signal?: AbortSignal, logPath?: string): Promise<criu_resp__Output> {
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
    const stop = (): void => worker.kill();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      // A listener added to a signal that already fired never runs: an abort
      // while CRIU was starting must stop it here, before it gets the request.
      signal?.throwIfAborted();
      worker.channel.send(this.codec.encodeRequest(req));
      for (;;) {
        const resp = this.codec.decodeResponse(await worker.channel.receive(signal));
        if (resp.type !== 'NOTIFY') return resp;
        worker.channel.send(this.codec.encodeRequest({ type: 'NOTIFY', notify_success: true }));
      }
    } catch (err) {
      if (signal?.aborted) {
        worker.kill();
        throw signal.reason;
      }
      if (err instanceof CriuTransportError) throw await this.workerDied(op, worker, err, logPath);
      throw err;
    } finally {
      signal?.removeEventListener('abort', stop);
      await worker.dispose();
    }
  }

  private async workerDied(op: CriuOperation, worker: CriuWorker, err: CriuTransportError, logPath?: string): Promise<AgentError> {
    worker.kill();
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

/** The pid of the CRIU page server daemon listening on `port` (its process title names it), if any. */
async function findPageServer(port: number): Promise<number | undefined> {
  const wanted = `--port ${port}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const name of await fsp.readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const cmd = await fsp.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
      if (cmd.startsWith('criu: page-server') && cmd.replace(/\0/g, ' ').trimEnd().endsWith(wanted)) return Number(name);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}
