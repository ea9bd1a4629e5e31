import { mkdirSync, mkdtempSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { RpcCriuClient, type CriuRun } from '../../src/criu/client';
import { parseFaults } from '../../src/criu/faults';
import { CriuCodec } from '../../src/criu/codec';
import { CriuTransportError, type CriuChannel, type CriuLauncher, type CriuWorker, type CriuWorkerExit } from '../../src/criu/transport';
import { AgentError } from '../../src/errors';
import type { criu_req } from '../../src/generated/criu/criu_req';
import type { criu_resp__Output } from '../../src/generated/criu/criu_resp';
import { agentRejection } from '../helpers/errors';

const codec = new CriuCodec();

// ---------------------------------------------------------------------------
// A CRIU worker in memory: the client's side is the CriuChannel; the test plays
// CRIU through next()/reply()/exit().

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}

/** The client's end of an in-memory channel; follows the CriuChannel contract (queueing, EOF, abort). */
class FakeChannel implements CriuChannel {
  /** Requests the client sent, raw; the CRIU side pulls them with nextRequest(). */
  private readonly toCriu: Uint8Array[] = [];
  private readonly criuWaiters: Waiter<Uint8Array>[] = [];
  private readonly toClient: Uint8Array[] = [];
  private readonly clientWaiters: Waiter<Uint8Array>[] = [];
  closed = false;
  /** Called synchronously inside send(), e.g. to look at /proc/self/fd while the client holds its fd. */
  onSend?: (req: criu_req) => void;

  send(message: Uint8Array): void {
    if (this.closed) throw new CriuTransportError('closed', { code: 'ECLOSED' });
    this.onSend?.(codec.decodeRequest(message));
    const w = this.criuWaiters.shift();
    if (w) w.resolve(message);
    else this.toCriu.push(message);
  }

  receive(signal?: AbortSignal): Promise<Uint8Array> {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    if (signal?.aborted) return Promise.reject(signal.reason as unknown);
    const next = this.toClient.shift();
    if (next) return Promise.resolve(next);
    if (this.closed) return Promise.reject(new CriuTransportError('closed', { code: 'ECLOSED' }));
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.clientWaiters.indexOf(waiter);
        if (i >= 0) this.clientWaiters.splice(i, 1);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(signal?.reason as unknown);
      };
      const waiter: Waiter<Uint8Array> = {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          reject(e);
        },
      };
      this.clientWaiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.clientWaiters.splice(0)) w.reject(new CriuTransportError('closed', { code: 'ECLOSED' }));
    for (const w of this.criuWaiters.splice(0)) w.reject(new CriuTransportError('closed', { code: 'ECLOSED' }));
  }

  // --- CRIU's side

  nextRequest(): Promise<criu_req> {
    const m = this.toCriu.shift();
    if (m) return Promise.resolve(codec.decodeRequest(m));
    if (this.closed) return Promise.reject(new CriuTransportError('closed', { code: 'ECLOSED' }));
    return new Promise<Uint8Array>((resolve, reject) => this.criuWaiters.push({ resolve, reject })).then((b) => codec.decodeRequest(b));
  }

  reply(resp: Partial<criu_resp__Output>): void {
    this.replyRaw(codec.encodeResponse(resp));
  }

  replyRaw(m: Uint8Array): void {
    if (this.closed) return;
    const w = this.clientWaiters.shift();
    if (w) w.resolve(m);
    else this.toClient.push(m);
  }
}

class FakeWorker implements CriuWorker {
  readonly channel = new FakeChannel();
  readonly description: string;
  readonly exited: Promise<CriuWorkerExit>;
  killCalls = 0;
  disposeCalls = 0;
  /** The grace periods dispose() was called with (null: wait for CRIU however long). */
  disposeGrace: (number | null | undefined)[] = [];
  /** What happened to the worker, in order: 'kill', 'dispose', and CRIU's 'exit'. */
  events: string[] = [];
  private resolveExit!: (e: CriuWorkerExit) => void;
  private hasExited = false;

  constructor(n: number) {
    this.description = `fake criu (pid ${4000 + n})`;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  /** CRIU's side: the worker process ends (closing its socket). */
  exit(e: CriuWorkerExit): void {
    this.channel.close();
    if (this.hasExited) return;
    this.events.push('exit');
    this.hasExited = true;
    this.resolveExit(e);
  }

  kill(): void {
    this.killCalls++;
    this.events.push('kill');
    this.exit({ code: null, signal: 'SIGKILL', stderr: '' });
  }

  async dispose(graceMs?: number | null): Promise<void> {
    this.disposeCalls++;
    this.disposeGrace.push(graceMs);
    this.events.push('dispose');
    this.exit({ code: 0, signal: null, stderr: '' });
    await this.exited;
  }

  // --- conveniences for CRIU's side
  next(): Promise<criu_req> {
    return this.channel.nextRequest();
  }

  reply(resp: Partial<criu_resp__Output>): void {
    this.channel.reply(resp);
  }
}

class FakeLauncher implements CriuLauncher {
  readonly workers: FakeWorker[] = [];
  private readonly waiting: ((w: FakeWorker) => void)[] = [];
  openError?: Error;
  /** Runs before open() returns the worker, i.e. before the client can send anything. */
  onOpen?: (w: FakeWorker) => void;

  open(): Promise<CriuWorker> {
    if (this.openError) return Promise.reject(this.openError);
    const w = new FakeWorker(this.workers.length);
    this.workers.push(w);
    this.onOpen?.(w);
    this.waiting.shift()?.(w);
    return Promise.resolve(w);
  }

  /** The next worker the client opens (or the last one, if it is already open and unclaimed). */
  private claimed = 0;
  worker(): Promise<FakeWorker> {
    const existing = this.workers[this.claimed];
    this.claimed++;
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

let tmp: string;
let imagesDir: string;
let launcher: FakeLauncher;
let client: RpcCriuClient;

beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'criu-client-test-'));
  imagesDir = path.join(tmp, 'images');
  mkdirSync(imagesDir);
  launcher = new FakeLauncher();
  client = new RpcCriuClient(launcher, 'fake criu');
});

afterEach(() => {
  // Whatever happened, every worker the client opened was disposed.
  for (const w of launcher.workers) expect(w.disposeCalls).toBeGreaterThanOrEqual(1);
  rmSync(tmp, { recursive: true, force: true });
});

function run(over: Partial<CriuRun> = {}): CriuRun {
  return { imagesDir, logFile: 'dump.log', opts: { pid: 1234, log_level: 4 }, ...over };
}

describe('version', () => {
  it('asks VERSION and formats major.minor.sublevel', async () => {
    const p = client.version();
    const w = await launcher.worker();
    const req = await w.next();
    expect(req.type).toBe('VERSION');
    w.reply({
      type: 'VERSION',
      success: true,
      version: { major_number: 4, minor_number: 2, sublevel: 1, gitid: 'abc123', extra: 0, name: '' },
    });
    await expect(p).resolves.toEqual({ major: 4, minor: 2, sublevel: 1, gitid: 'abc123', text: '4.2.1' });
    expect(launcher.workers).toHaveLength(1);
    expect(w.disposeCalls).toBe(1);
    expect(w.killCalls).toBe(0);
  });

  it('leaves out a zero sublevel', async () => {
    const p = client.version();
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'VERSION', success: true, version: { major_number: 3, minor_number: 19, sublevel: 0, gitid: '', extra: 0, name: '' } });
    expect((await p).text).toBe('3.19');
  });

  it('is unavailable when CRIU does not report a version', async () => {
    const p = client.version();
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'VERSION', success: false });
    const err = await agentRejection(p);
    expect(err.kind).toBe('unavailable');
    expect(err.message).toContain('fake criu did not report its version');
  });
});

describe('features', () => {
  it('asks FEATURE_CHECK for mem_track, lazy_pages and pidfd_store and maps the answer', async () => {
    const p = client.features();
    const w = await launcher.worker();
    const req = await w.next();
    expect(req.type).toBe('FEATURE_CHECK');
    expect(req.features).toEqual({ mem_track: true, lazy_pages: true, pidfd_store: true });
    w.reply({ type: 'FEATURE_CHECK', success: true, features: { mem_track: false, lazy_pages: true, pidfd_store: true } });
    await expect(p).resolves.toEqual({ memTrack: false, lazyPages: true, pidfdStore: true });
  });

  it('reads a missing features message as no features', async () => {
    const p = client.features();
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'FEATURE_CHECK', success: true });
    await expect(p).resolves.toEqual({ memTrack: false, lazyPages: false, pidfdStore: false });
  });

  it('is unavailable when the check fails', async () => {
    const p = client.features();
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'FEATURE_CHECK', success: false });
    expect((await agentRejection(p)).kind).toBe('unavailable');
  });
});

describe('dump / pre-dump / restore requests', () => {
  it('dump sends DUMP with images_dir_fd open on the images dir (at send time) and log_file', async () => {
    const seen: { fd: number; target: string }[] = [];
    launcher.onOpen = (w) => {
      w.channel.onSend = (req) => {
        const fd = req.opts?.images_dir_fd;
        if (fd !== undefined) seen.push({ fd, target: readlinkSync(`/proc/self/fd/${fd}`) });
      };
    };
    const p = client.dump(run({ opts: { pid: 1234, leave_running: true, log_level: 2 } }));
    const w = await launcher.worker();
    const req = await w.next();

    expect(req.type).toBe('DUMP');
    expect(req.opts?.log_file).toBe('dump.log');
    expect(req.opts?.pid).toBe(1234);
    expect(req.opts?.leave_running).toBe(true);
    expect(req.opts?.log_level).toBe(2);
    expect(seen).toHaveLength(1);
    const { fd, target } = seen[0] ?? { fd: -1, target: '' };
    expect(req.opts?.images_dir_fd).toBe(fd);
    expect(fd).toBeGreaterThan(2);
    expect(target).toBe(realpathSync(imagesDir));

    w.reply({ type: 'DUMP', success: true });
    await expect(p).resolves.toBeUndefined();
    // The client closed its fd on the directory afterwards.
    let after: string | undefined;
    try {
      after = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      after = undefined;
    }
    expect(after).not.toBe(realpathSync(imagesDir));
  });

  it('pre-dump sends SINGLE_PRE_DUMP with its own log file', async () => {
    const targets: string[] = [];
    launcher.onOpen = (w) => {
      w.channel.onSend = (req) => {
        if (req.opts) targets.push(readlinkSync(`/proc/self/fd/${String(req.opts.images_dir_fd)}`));
      };
    };
    const p = client.preDump(run({ logFile: 'pre-dump.log', opts: { pid: 1234, track_mem: true } }));
    const w = await launcher.worker();
    const req = await w.next();
    expect(req.type).toBe('SINGLE_PRE_DUMP');
    expect(req.opts?.log_file).toBe('pre-dump.log');
    expect(req.opts?.track_mem).toBe(true);
    expect(targets).toEqual([realpathSync(imagesDir)]);
    w.reply({ type: 'SINGLE_PRE_DUMP', success: true });
    await p;
  });

  it('restore sends RESTORE and returns the restored pid', async () => {
    const p = client.restore(run({ logFile: 'restore.log', opts: { leave_stopped: true } }));
    const w = await launcher.worker();
    const req = await w.next();
    expect(req.type).toBe('RESTORE');
    expect(req.opts?.leave_stopped).toBe(true);
    expect(req.opts?.log_file).toBe('restore.log');
    w.reply({ type: 'RESTORE', success: true, restore: { pid: 5678 } });
    await expect(p).resolves.toEqual({ pid: 5678 });
  });

  it('a successful restore without a pid is internal', async () => {
    const p = client.restore(run({ logFile: 'restore.log' }));
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'RESTORE', success: true });
    const err = await agentRejection(p);
    expect(err.kind).toBe('internal');
    expect(err.message).toContain(`${imagesDir}/restore.log`);
  });

  it('answers every NOTIFY with notify_success before taking the final reply', async () => {
    const p = client.dump(run());
    const w = await launcher.worker();
    expect((await w.next()).type).toBe('DUMP');
    const scripts = ['pre-dump', 'network-lock', 'post-dump'];
    for (const script of scripts) {
      w.reply({ type: 'NOTIFY', success: true, notify: { script, pid: 0 } });
      const ack = await w.next();
      expect(ack.type).toBe('NOTIFY');
      expect(ack.notify_success).toBe(true);
    }
    // Two NOTIFYs queued back to back before the client reads either.
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'network-unlock', pid: 0 } });
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'post-resume', pid: 0 } });
    expect(await w.next()).toMatchObject({ type: 'NOTIFY', notify_success: true });
    expect(await w.next()).toMatchObject({ type: 'NOTIFY', notify_success: true });
    w.reply({ type: 'DUMP', success: true });
    await expect(p).resolves.toBeUndefined();
    expect(w.disposeCalls).toBe(1);
  });
});

describe('failures', () => {
  const LOG = [
    '(00.000010) Version: 4.2.1 (gitid 0)',
    "(00.000100) Error (criu/util.c:1520): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
    '(00.001000) Dumping processes (pid: 123 comm: sleep)',
    "(00.012345) Error (criu/cr-dump.c:1234): Can't read /proc/123/stat: No such process",
    '(00.012400) Dumping finished with error',
  ].join('\n');

  it('a failed reply with cr_errno and a log becomes a classified AgentError quoting CRIU', async () => {
    const p = client.dump(run());
    const w = await launcher.worker();
    await w.next();
    writeFileSync(path.join(imagesDir, 'dump.log'), LOG + '\n');
    w.reply({ type: 'DUMP', success: false, cr_errno: 3, cr_errmsg: "rlimit: Can't setup RLIMIT_NOFILE for self" });
    const err = await agentRejection(p);
    const logPath = `${imagesDir}/dump.log`;
    expect(err.kind).toBe('not-found');
    expect(err.message).toContain('CRIU dump failed (ESRCH)');
    expect(err.message).toContain("Can't read /proc/123/stat: No such process (criu/cr-dump.c:1234)");
    expect(err.message).toContain(`full log: ${logPath}`);
    // The harmless rlimit line is not quoted.
    expect(err.message).not.toContain('RLIMIT_NOFILE');
    expect(err.details).toEqual({ criuErrno: 3, criuLog: logPath });
    expect(w.disposeCalls).toBe(1);
  });

  it('a failed reply without a log is still an error, with the errno', async () => {
    const p = client.dump(run());
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'DUMP', success: false, cr_errno: 28 });
    const err = await agentRejection(p);
    expect(err.kind).toBe('resource-exhausted');
    expect(err.message).toContain('(ENOSPC)');
    expect(err.details.criuErrno).toBe(28);
  });

  it('a worker that exits before replying gives internal, naming the exit and its stderr', async () => {
    const p = client.version();
    const w = await launcher.worker();
    await w.next();
    w.exit({ code: 1, signal: null, stderr: 'line 1\nError: criu: cannot open /proc\n' });
    const err = await agentRejection(p);
    expect(err.kind).toBe('internal');
    expect(err.message).toContain('CRIU check failed: fake criu (pid 4000) exited with code 1 before replying (closed)');
    expect(err.message).toContain('CRIU said: line 1 | Error: criu: cannot open /proc');
    expect(err.cause).toBeInstanceOf(CriuTransportError);
    expect(w.killCalls).toBeGreaterThanOrEqual(1);
    expect(w.disposeCalls).toBe(1);
  });

  it('a dump worker killed by a signal before replying quotes the log and points at it', async () => {
    const p = client.dump(run());
    const w = await launcher.worker();
    await w.next();
    writeFileSync(path.join(imagesDir, 'dump.log'), LOG + '\n');
    w.exit({ code: null, signal: 'SIGSEGV', stderr: 'ignored when the log has errors' });
    const err = await agentRejection(p);
    const logPath = `${imagesDir}/dump.log`;
    expect(err.kind).toBe('internal');
    expect(err.message).toContain('was killed by SIGSEGV before replying');
    expect(err.message).toContain("CRIU said: Can't read /proc/123/stat: No such process (criu/cr-dump.c:1234)");
    expect(err.message).not.toContain('RLIMIT_NOFILE');
    expect(err.message).not.toContain('ignored when the log has errors');
    expect(err.message).toContain(`full log: ${logPath}`);
    expect(err.details.criuLog).toBe(logPath);
  });

  it('a worker gone before the request is sent is reported the same way', async () => {
    const gone: CriuLauncher = {
      open: async () => {
        const w = (await launcher.open()) as FakeWorker;
        w.exit({ code: 127, signal: null, stderr: '' });
        return w;
      },
    };
    const err = await agentRejection(new RpcCriuClient(gone, 'fake criu').features());
    expect(err.kind).toBe('internal');
    expect(err.message).toMatch(/exited with code 127 before replying/);
  });

  it('a launcher that cannot start CRIU is unavailable', async () => {
    launcher.openError = new CriuTransportError('the CRIU binary /nope/criu does not exist: run deploy/provision-criu.sh', {
      code: 'ENOENT',
    });
    const err = await agentRejection(client.version());
    expect(err.kind).toBe('unavailable');
    expect(err.message).toContain('/nope/criu does not exist');
  });

  it('protocol garbage from CRIU is passed on as is, and the worker still disposed', async () => {
    const p = client.version();
    const w = await launcher.worker();
    await w.next();
    // A criu_resp without its required fields (only field 3, dump, empty).
    w.channel.replyRaw(new Uint8Array([0x1a, 0x00]));
    await expect(p).rejects.toThrow(/missing required/);
    expect(w.disposeCalls).toBe(1);
  });
});

describe('abort', () => {
  it('an abort before CRIU got its answer to pre-dump kills CRIU at once (it holds no tree yet)', async () => {
    const controller = new AbortController();
    const p = client.dump(run({ signal: controller.signal, opts: { pid: 1234, notify_scripts: true } }));
    const w = await launcher.worker();
    await w.next();
    // CRIU is starting (kerndat probes, reading options): no notification yet.
    const reason = new AgentError('cancelled', 'the client cancelled the call');
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(w.events[0]).toBe('kill');
    expect(w.disposeCalls).toBe(1);
  });

  it('an abort while pre-dump waits for its answer refuses it and kills CRIU', async () => {
    const controller = new AbortController();
    const p = client.dump(run({ signal: controller.signal, opts: { pid: 1234, notify_scripts: true } }));
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'pre-dump', pid: 0 } });
    controller.abort(new AgentError('deadline-exceeded', 'too late'));
    await expect(p).rejects.toMatchObject({ kind: 'deadline-exceeded' });
    expect(w.killCalls).toBeGreaterThanOrEqual(1);
  });

  // The tree is seized and CRIU's parasite may be inside it: a SIGKILL of CRIU
  // now would leave a task to die of the parasite's trap. CRIU is let run to
  // its next notification, which is refused: CRIU cures, resumes and fails.
  for (const script of ['query-ext-files', 'network-lock', 'post-dump']) {
    it(`an abort once the tree is seized is not a kill: ${script} is answered false, and the call rejects once CRIU rolled back`, async () => {
      const controller = new AbortController();
      const p = client.dump(run({ signal: controller.signal, opts: { pid: 1234, notify_scripts: true } }));
      const w = await launcher.worker();
      await w.next();
      w.reply({ type: 'NOTIFY', success: true, notify: { script: 'pre-dump', pid: 0 } });
      expect(await w.next()).toMatchObject({ type: 'NOTIFY', notify_success: true });
      const reason = new AgentError('cancelled', 'the client cancelled the call');
      controller.abort(reason);
      let settled = false;
      void p.then(
        () => (settled = true),
        () => (settled = true),
      );
      // CRIU works on (parasite, pages) for a while: nothing is killed, the call waits.
      await new Promise((r) => setTimeout(r, 50));
      expect(settled).toBe(false);
      expect(w.killCalls).toBe(0);
      w.reply({ type: 'NOTIFY', success: true, notify: { script, pid: 0 } });
      expect(await w.next()).toMatchObject({ type: 'NOTIFY', notify_success: false });
      expect(settled).toBe(false);
      w.reply({ type: 'DUMP', success: false, cr_errno: 0 });
      await expect(p).rejects.toBe(reason);
      // CRIU answered before anything was killed; its group is cleaned up after it exited.
      expect(w.events.indexOf('exit')).toBeLessThan(w.events.indexOf('kill') === -1 ? Infinity : w.events.indexOf('kill'));
      expect(w.disposeGrace).toEqual([5000]);
    });
  }

  it('an abort after post-dump was answered lets the dump complete: the call resolves', async () => {
    const controller = new AbortController();
    const p = client.dump(run({ signal: controller.signal, opts: { pid: 1234, notify_scripts: true } }));
    const w = await launcher.worker();
    await w.next();
    for (const script of ['pre-dump', 'query-ext-files', 'post-dump']) {
      w.reply({ type: 'NOTIFY', success: true, notify: { script, pid: 0 } });
      expect(await w.next()).toMatchObject({ notify_success: true });
    }
    controller.abort(new AgentError('cancelled', 'late'));
    // network-unlock's answer does not matter any more (CRIU ignores it).
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'network-unlock', pid: 0 } });
    expect(await w.next()).toMatchObject({ notify_success: true });
    w.reply({ type: 'DUMP', success: true });
    await expect(p).resolves.toBeUndefined();
    expect(w.killCalls).toBe(0);
  });

  it('a restore cancelled after pre-restore refuses post-restore (CRIU kills what it created) and rejects', async () => {
    const controller = new AbortController();
    const p = client.restore(run({ logFile: 'restore.log', signal: controller.signal, opts: { notify_scripts: true } }));
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'pre-restore', pid: 0 } });
    expect(await w.next()).toMatchObject({ notify_success: true });
    const reason = new AgentError('cancelled', 'cancelled mid-restore');
    controller.abort(reason);
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'setup-namespaces', pid: 77 } });
    expect(await w.next()).toMatchObject({ notify_success: false });
    w.reply({ type: 'RESTORE', success: false });
    await expect(p).rejects.toBe(reason);
    expect(w.events[0]).not.toBe('kill');
  });

  it('a restore cancelled after post-restore was answered completes (pre-resume and post-resume cannot undo it)', async () => {
    const controller = new AbortController();
    const p = client.restore(run({ logFile: 'restore.log', signal: controller.signal, opts: { notify_scripts: true } }));
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'pre-restore', pid: 0 } });
    await w.next();
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'post-restore', pid: 77 } });
    await w.next();
    controller.abort(new AgentError('cancelled', 'late'));
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'pre-resume', pid: 0 } });
    expect(await w.next()).toMatchObject({ notify_success: true });
    w.reply({ type: 'RESTORE', success: true, restore: { pid: 77 } });
    await expect(p).resolves.toEqual({ pid: 77 });
    expect(w.killCalls).toBe(0);
  });

  it('a pre-dump (no notifications) is never killed once sent: an abort waits for CRIU to finish', async () => {
    const controller = new AbortController();
    const p = client.preDump(run({ signal: controller.signal, opts: { pid: 1234, notify_scripts: true, track_mem: true } }));
    const w = await launcher.worker();
    await w.next();
    controller.abort(new AgentError('cancelled', 'cancelled'));
    await new Promise((r) => setTimeout(r, 20));
    expect(w.killCalls).toBe(0);
    w.reply({ type: 'SINGLE_PRE_DUMP', success: true });
    await expect(p).resolves.toBeUndefined();
    expect(w.killCalls).toBe(0);
  });

  it('a dump without notify_scripts is never killed once sent (CRIU would seize unannounced)', async () => {
    const controller = new AbortController();
    const p = client.dump(run({ signal: controller.signal }));
    const w = await launcher.worker();
    await w.next();
    const reason = new AgentError('cancelled', 'cancelled');
    controller.abort(reason);
    await new Promise((r) => setTimeout(r, 20));
    expect(w.killCalls).toBe(0);
    w.reply({ type: 'DUMP', success: false });
    await expect(p).rejects.toBe(reason);
  });

  it('protocol garbage mid-dump closes the socket and waits for CRIU (no grace kill: it may hold the tree)', async () => {
    const p = client.dump(run({ opts: { pid: 1234, notify_scripts: true } }));
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'pre-dump', pid: 0 } });
    await w.next();
    w.channel.replyRaw(new Uint8Array([0x1a, 0x00]));
    await expect(p).rejects.toThrow(/missing required/);
    expect(w.disposeGrace).toEqual([null]);
  });

  it('an already aborted signal rejects without opening a worker', async () => {
    const controller = new AbortController();
    const reason = new AgentError('deadline-exceeded', 'too late');
    controller.abort(reason);
    await expect(client.version(controller.signal)).rejects.toBe(reason);
    expect(launcher.workers).toHaveLength(0);
  });

  // Regression: addEventListener on an already-aborted signal never fires. An abort that
  // lands while open() is pending (spawning criu swrk takes milliseconds) lets
  // the DUMP request go out anyway and never kills the worker: dispose() then
  // waits its grace period while CRIU carries on with the dump, although the
  // caller was told "CRIU was stopped and the tree left as it was".
  it('an abort while the worker is being opened sends nothing and kills the worker', async () => {
    const controller = new AbortController();
    const reason = new AgentError('cancelled', 'cancelled while opening');
    let sent = 0;
    const slow: CriuLauncher = {
      open: async () => {
        const w = (await launcher.open()) as FakeWorker;
        w.channel.onSend = () => sent++;
        controller.abort(reason);
        return w;
      },
    };
    const p = new RpcCriuClient(slow, 'fake criu').dump(run({ signal: controller.signal }));
    await expect(p).rejects.toBe(reason);
    const w = launcher.workers[0];
    expect(w?.disposeCalls).toBe(1);
    expect(sent).toBe(0);
    expect(w?.killCalls).toBeGreaterThanOrEqual(1);
  });

  it('an abort after the call finished does not touch the (disposed) worker', async () => {
    const controller = new AbortController();
    const p = client.version(controller.signal);
    const w = await launcher.worker();
    await w.next();
    w.reply({ type: 'VERSION', success: true, version: { major_number: 4, minor_number: 2, sublevel: 1, gitid: '', extra: 0, name: '' } });
    await p;
    controller.abort(new Error('late'));
    expect(w.killCalls).toBe(0);
  });
});

describe('test fault hooks (CRIU_AGENT_TEST_FAULTS)', () => {
  it('parses op:script:when:action lists and answers per notification', () => {
    const f = parseFaults('dump:post-dump:before:cancel, restore:pre-restore:after:kill-criu');
    expect(f?.at('dump', 'post-dump', 'before')).toBe('cancel');
    expect(f?.at('dump', 'post-dump', 'after')).toBeUndefined();
    expect(f?.at('restore', 'pre-restore', 'after')).toBe('kill-criu');
    expect(parseFaults(undefined)).toBeUndefined();
    expect(parseFaults(' ')).toBeUndefined();
  });

  it('refuses a malformed spec instead of silently arming nothing', () => {
    expect(() => parseFaults('dump:post-dump:during:cancel')).toThrow(/CRIU_AGENT_TEST_FAULTS/);
    expect(() => parseFaults('dump:post-dump:before:explode')).toThrow(/not op:script/);
  });

  it('a cancel fault cancels through the run\'s own cancel (as the client would), at exactly that notification', async () => {
    const faulty = new RpcCriuClient(launcher, 'fake criu', parseFaults('dump:query-ext-files:after:cancel'));
    const controller = new AbortController();
    const p = faulty.dump(run({ signal: controller.signal, cancel: (r) => controller.abort(r), opts: { pid: 1, notify_scripts: true } }));
    const w = await launcher.worker();
    await w.next();
    for (const script of ['pre-dump', 'query-ext-files']) {
      w.reply({ type: 'NOTIFY', success: true, notify: { script, pid: 0 } });
      expect(await w.next()).toMatchObject({ notify_success: true });
    }
    expect(controller.signal.aborted).toBe(true);
    w.reply({ type: 'NOTIFY', success: true, notify: { script: 'post-dump', pid: 0 } });
    expect(await w.next()).toMatchObject({ notify_success: false });
    w.reply({ type: 'DUMP', success: false });
    await expect(p).rejects.toMatchObject({ kind: 'cancelled', message: expect.stringContaining('test fault') as unknown });
    expect(w.killCalls).toBe(1); // only after CRIU answered: its group is cleaned up
    expect(w.events.indexOf('exit')).toBeLessThan(w.events.indexOf('kill'));
  });
});
