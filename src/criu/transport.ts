/**
 * The socket layer between the agent and CRIU: CRIU's RPC protocol is one
 * protobuf message per packet over an AF_UNIX SOCK_SEQPACKET socket, either a
 * socketpair shared with a `criu swrk 3` child or a connection to a
 * `criu service` socket. Node has no SOCK_SEQPACKET, so the sockets come from
 * the small addon in src/native (npm run build:native).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { ADDON_FILE, loadAddon, type NativeAddon } from '../native/addon';
import { errorMessage } from '../errors';

/** One message-oriented duplex channel to a CRIU RPC server. */
export interface CriuChannel {
  /** Sends one encoded criu_req. Throws CriuTransportError if the socket is gone. */
  send(message: Uint8Array): void;
  /** Resolves with the next message; rejects with CriuTransportError('closed') at EOF, or with signal.reason if the signal aborts while waiting. Messages that arrive while nobody waits are queued. */
  receive(signal?: AbortSignal): Promise<Uint8Array>;
  /** Idempotent. */
  close(): void;
}

export interface CriuWorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** A CRIU RPC server for the length of one operation: a `criu swrk` child, or a connection to a `criu service` socket. */
export interface CriuWorker {
  readonly channel: CriuChannel;
  /** Human description for errors/logs, e.g. "criu swrk (pid 1234)". */
  readonly description: string;
  /** The CRIU process (swrk), when there is one of this agent's own. */
  readonly pid?: number;
  /**
   * Stop the worker now: SIGKILL to CRIU's whole process group for swrk (CRIU
   * and every helper it forked), close the connection for a service socket.
   * Idempotent. Only for moments when CRIU holds no tree: a CRIU killed while
   * a tree is seized, or while its parasite runs inside a task, leaves that
   * task to die of the parasite's trap (see the phase table in client.ts).
   */
  kill(): void;
  /** Resolves when the worker is gone (swrk: child exited and was reaped; service: connection closed), with exit details. Never rejects. */
  readonly exited: Promise<CriuWorkerExit>;
  /**
   * Close the channel and wait for `exited`. CRIU exits by itself once the
   * socket is closed: at once when idle, or at its next notification when
   * busy (the notification fails and CRIU rolls back). With a number, a swrk
   * CRIU still there after graceMs (default 5000) is killed (its process
   * only); with null it is waited for however long it takes, for when CRIU
   * may still hold a tree.
   */
  dispose(graceMs?: number | null): Promise<void>;
}

export interface CriuLauncher {
  /** Starts/connects a worker. Rejects with CriuTransportError (with a message saying what to do, e.g. the criu binary is missing: "run deploy/provision-criu.sh") when it cannot. */
  open(): Promise<CriuWorker>;
}

export class CriuTransportError extends Error {
  /** errno name from the failing system call ('ENOENT', 'ECONNREFUSED', ...), or 'ECLOSED' when the channel is closed / at EOF. */
  readonly code?: string;

  constructor(message: string, options: { cause?: unknown; code?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CriuTransportError';
    if (options.code !== undefined) this.code = options.code;
  }
}

// ---------------------------------------------------------------------------
// The addon

type ReceiverHandle = ReturnType<NativeAddon['startReceiving']>;

function loadBinding(): NativeAddon {
  try {
    return loadAddon();
  } catch (err) {
    throw new CriuTransportError(`cannot load the seqpacket addon ${ADDON_FILE} (build it with npm run build:native): ${errorMessage(err)}`, {
      cause: err,
      code: 'ENOADDON',
    });
  }
}

// The addon's errors come from the main V8 context (not jest's), so no instanceof.
function codeOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

function closedError(): CriuTransportError {
  return new CriuTransportError('closed', { code: 'ECLOSED' });
}

/** Resolves true if `promise` settles within `ms`, false otherwise; leaves no timer behind. */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(done, done);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// Channel

interface Waiter {
  resolve(message: Uint8Array): void;
  reject(reason: unknown): void;
  detach(): void;
}

/**
 * A CriuChannel over one SOCK_SEQPACKET fd, which it owns. Reading starts at
 * once (so EOF is noticed even when nobody waits); at EOF, on a receive error
 * or on close() the fd is closed. Messages read before that stay receivable.
 * @internal exported for tests; use a CriuLauncher.
 */
export class SeqpacketChannel implements CriuChannel {
  /** Resolves once the channel has reached EOF, failed, or been closed (the fd is closed by then). */
  readonly ended: Promise<void>;
  private fd: number | null;
  private receiver: ReceiverHandle | null = null;
  private readonly queue: Uint8Array[] = [];
  private readonly waiters: Waiter[] = [];
  private end: CriuTransportError | null = null;
  private markEnded: () => void = () => undefined;

  constructor(
    fd: number,
    private readonly lib: NativeAddon = loadBinding(),
  ) {
    this.fd = fd;
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
    try {
      this.receiver = lib.startReceiving(fd, (err, data) => this.onNative(err, data));
    } catch (err) {
      const error = new CriuTransportError(`cannot watch the CRIU socket: ${errorMessage(err)}`, { cause: err, code: codeOf(err) });
      this.finish(error);
      throw error;
    }
  }

  send(message: Uint8Array): void {
    if (this.fd === null) throw closedError();
    if (message.byteLength === 0) {
      // The peer could not tell an empty packet from end-of-file.
      throw new CriuTransportError('cannot send an empty message', { code: 'EINVAL' });
    }
    try {
      this.lib.send(this.fd, message);
    } catch (err) {
      throw new CriuTransportError(`send to CRIU failed: ${errorMessage(err)}`, { cause: err, code: codeOf(err) });
    }
  }

  receive(signal?: AbortSignal): Promise<Uint8Array> {
    // The contract is to reject with signal.reason, whatever it is.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    if (signal?.aborted) return Promise.reject(signal.reason as unknown);
    const next = this.queue.shift();
    if (next) return Promise.resolve(next);
    if (this.end) return Promise.reject(this.end);
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(signal?.reason as unknown);
      };
      const waiter: Waiter = { resolve, reject, detach: () => signal?.removeEventListener('abort', onAbort) };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.finish(closedError());
  }

  private onNative(err: unknown, data: Uint8Array | null): void {
    if (err) {
      this.finish(new CriuTransportError(`receive from CRIU failed: ${errorMessage(err)}`, { cause: err, code: codeOf(err) }));
    } else if (data === null) {
      this.finish(closedError());
    } else {
      // A plain Uint8Array of this realm over the addon's Buffer.
      const message = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const waiter = this.waiters.shift();
      if (waiter) {
        waiter.detach();
        waiter.resolve(message);
      } else {
        this.queue.push(message);
      }
    }
  }

  private finish(reason: CriuTransportError): void {
    if (this.end) return;
    this.end = reason;
    const receiver = this.receiver;
    this.receiver = null;
    receiver?.stop();
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) closeQuietly(this.lib, fd);
    for (const waiter of this.waiters.splice(0)) {
      waiter.detach();
      waiter.reject(reason);
    }
    this.markEnded();
  }
}

function closeQuietly(lib: NativeAddon, fd: number): void {
  try {
    lib.close(fd);
  } catch {
    // EBADF etc.: nothing left to release
  }
}

/** @internal Two connected channels in this process, for tests. */
export function createChannelPair(): [SeqpacketChannel, SeqpacketChannel] {
  const lib = loadBinding();
  const [a, b] = lib.socketpair();
  let first: SeqpacketChannel;
  try {
    first = new SeqpacketChannel(a, lib);
  } catch (err) {
    closeQuietly(lib, b);
    throw err;
  }
  try {
    return [first, new SeqpacketChannel(b, lib)];
  } catch (err) {
    first.close();
    throw err;
  }
}

// ---------------------------------------------------------------------------
// criu swrk

const STDERR_TAIL_BYTES = 64 * 1024;

/** The last `limit` bytes written to a stream. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (let first = this.chunks[0]; first && this.size - first.length >= this.limit; first = this.chunks[0]) {
      this.chunks.shift();
      this.size -= first.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

class SwrkWorker implements CriuWorker {
  readonly description: string;
  readonly exited: Promise<CriuWorkerExit>;
  readonly pid: number;

  constructor(
    private readonly child: ChildProcess,
    readonly channel: SeqpacketChannel,
    exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
    closed: Promise<void>,
    stderr: Tail,
  ) {
    this.pid = child.pid ?? 0;
    this.description = `criu swrk (pid ${String(child.pid)})`;
    this.exited = exit.then(async ({ code, signal }) => {
      // Let CRIU's last packets and the EOF arrive, then free the fd in any case
      // (a descendant could still hold CRIU's end).
      await settlesWithin(channel.ended, 500);
      channel.close();
      // All of stderr, unless a descendant keeps the pipe open.
      if (!(await settlesWithin(closed, 1000))) child.stderr?.destroy();
      return { code, signal, stderr: stderr.text() };
    });
  }

  kill(): void {
    this.channel.close();
    // CRIU leads a process group of its own (spawned detached): its helpers
    // (kerndat probes it stopped and traces, namespace helpers, tasks it is
    // restoring) must not outlive it, stopped, with ppid 1.
    if (this.pid > 0) {
      try {
        process.kill(-this.pid, 'SIGKILL');
      } catch {
        // the group is empty: everything already exited
      }
    }
  }

  async dispose(graceMs: number | null = 5000): Promise<void> {
    this.channel.close();
    if (graceMs === null) {
      await this.exited;
      return;
    }
    if (!(await settlesWithin(this.exited, graceMs)) && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }
}

/**
 * The environment variable every CRIU the agent starts carries, set to the
 * agent's state directory: /proc/PID/environ then tells this agent's CRIU
 * processes (and the helpers they fork) from those of other agents and tools
 * on the node, so a later start of the agent finds what an earlier run left
 * behind (store/leftovers.ts).
 */
export const CRIU_OWNER_ENV = 'CRIU_AGENT_OWNER';

/**
 * Starts a `criu swrk 3` child per operation, talking over a socketpair.
 *
 * CRIU runs in a session and process group of its own, and with no
 * parent-death signal: if the agent dies, CRIU notices the closed socket at
 * its next notification (its send or receive fails, so the "script" fails:
 * criu/cr-service.c send_criu_rpc_script; CRIU ignores SIGPIPE) and rolls
 * back by itself, curing and releasing the tree. A SIGKILL at the agent's
 * death could land while CRIU's parasite runs inside a task, which then dies
 * of the parasite's trap. A group of its own also keeps signals sent to the
 * agent's group (a terminal's ^C) away from CRIU, and lets kill() reach
 * CRIU's helpers.
 */
export class SwrkLauncher implements CriuLauncher {
  private readonly criuPath: string;
  private readonly owner?: string;

  /** `owner`: the value of CRIU_OWNER_ENV in CRIU's environment (the agent's state directory). */
  constructor(opts: { criuPath: string; owner?: string }) {
    this.criuPath = opts.criuPath;
    this.owner = opts.owner;
  }

  async open(): Promise<CriuWorker> {
    const lib = loadBinding();
    try {
      // Checked first: a clearer message than spawn's, and no socket pair to undo.
      fs.accessSync(this.criuPath, fs.constants.X_OK);
    } catch (err) {
      throw this.spawnError(err);
    }
    let fds: [number, number];
    try {
      fds = lib.socketpair();
    } catch (err) {
      throw new CriuTransportError(`cannot create a socket pair for criu swrk: ${errorMessage(err)}`, { cause: err, code: codeOf(err) });
    }
    const [parentFd, childFd] = fds;
    let child: ChildProcess;
    try {
      // CRIU's end becomes its fd 3; stdout is unused, stderr kept for errors.
      child = spawn(this.criuPath, ['swrk', '3'], {
        stdio: ['ignore', 'ignore', 'pipe', childFd],
        detached: true,
        ...(this.owner ? { env: { ...process.env, [CRIU_OWNER_ENV]: this.owner } } : {}),
      });
    } catch (err) {
      closeQuietly(lib, parentFd);
      throw this.spawnError(err);
    } finally {
      closeQuietly(lib, childFd); // the child has its own copy (or there is no child)
    }

    const stderr = new Tail(STDERR_TAIL_BYTES);
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stderr?.on('error', () => undefined);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

    const spawnFailure = await new Promise<unknown>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    // Later 'error's (a failed kill()) must not crash the agent; 'exit' is what counts.
    child.on('error', () => undefined);
    if (spawnFailure !== undefined) {
      closeQuietly(lib, parentFd);
      child.stderr?.destroy();
      throw this.spawnError(spawnFailure);
    }

    let channel: SeqpacketChannel;
    try {
      channel = new SeqpacketChannel(parentFd, lib);
    } catch (err) {
      // CRIU has no request yet, so holds no tree.
      child.kill('SIGKILL');
      throw err;
    }
    return new SwrkWorker(child, channel, exit, closed, stderr);
  }

  private spawnError(err: unknown): CriuTransportError {
    const code = codeOf(err);
    const p = this.criuPath;
    const message =
      code === 'ENOENT'
        ? `the CRIU binary ${p} does not exist: run deploy/provision-criu.sh (or configure the path of an installed criu)`
        : code === 'EACCES'
          ? `the CRIU binary ${p} is not executable: run deploy/provision-criu.sh or fix its permissions`
          : `cannot start ${p} swrk: ${errorMessage(err)}`;
    return new CriuTransportError(message, { cause: err, code });
  }
}

// ---------------------------------------------------------------------------
// criu service

class ServiceWorker implements CriuWorker {
  readonly description: string;
  readonly exited: Promise<CriuWorkerExit>;

  constructor(
    readonly channel: SeqpacketChannel,
    socketPath: string,
  ) {
    this.description = `criu service (${socketPath})`;
    this.exited = channel.ended.then(() => ({ code: null, signal: null, stderr: '' }));
  }

  kill(): void {
    this.channel.close();
  }

  async dispose(): Promise<void> {
    this.channel.close();
    await this.exited;
  }
}

/** Connects to a running `criu service --address <socketPath>` per operation. */
export class ServiceSocketLauncher implements CriuLauncher {
  private readonly socketPath: string;

  constructor(opts: { socketPath: string }) {
    this.socketPath = opts.socketPath;
  }

  async open(): Promise<CriuWorker> {
    const lib = loadBinding();
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = lib.connect(this.socketPath);
        return new ServiceWorker(new SeqpacketChannel(fd, lib), this.socketPath);
      } catch (err) {
        if (err instanceof CriuTransportError) throw err;
        const code = codeOf(err);
        // EAGAIN: the service's listen backlog is full; it accepts one by one.
        if (code === 'EAGAIN' && attempt < 100) {
          await sleep(20);
          continue;
        }
        throw new CriuTransportError(this.connectMessage(code, err), { cause: err, code });
      }
    }
  }

  private connectMessage(code: string | undefined, err: unknown): string {
    const p = this.socketPath;
    switch (code) {
      case 'ENOENT':
        return `the CRIU service socket ${p} does not exist: start \`criu service --address ${p}\` (see deploy/provision-criu.sh) or use criu swrk`;
      case 'ECONNREFUSED':
        return `nothing is listening on the CRIU service socket ${p}: (re)start \`criu service --address ${p}\``;
      case 'EACCES':
      case 'EPERM':
        return `no permission to connect to the CRIU service socket ${p}: the agent must run as root`;
      case 'EPROTOTYPE':
        return `${p} is not a SOCK_SEQPACKET socket, so not a CRIU service socket`;
      case 'EAGAIN':
        return `the CRIU service at ${p} is not accepting connections (backlog full)`;
      default:
        return `cannot connect to the CRIU service socket ${p}: ${errorMessage(err)}`;
    }
  }
}
