import * as grpc from '@grpc/grpc-js';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { AgentConfig } from '../config';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import { loadAddon } from '../native/addon';
import type { ListenAddress } from '../listenAddress';

/** One bound listener: the address callers dial, and how to stop accepting on it. */
export interface BoundListener {
  /** "unix:/path", or "host:port" with the bound port. */
  readonly address: string;
  /** Stops accepting connections where the agent accepts them itself (calls in flight are the gRPC server's to drain). */
  close(): Promise<void>;
}

/** What the kernel says about the process at the other end of a unix socket connection. */
export interface UnixPeer {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * grpc-js tells an interceptor a connection's addresses (getConnectionInfo)
 * but nothing else about its socket. A unix socket has no remote address,
 * so the agent stores the peer's credentials there, in this form, when it
 * accepts the connection; unixPeerOf reads them back.
 */
const PEER_PREFIX = 'unix-peer:';

/** The credentials stored on a unix socket connection; undefined for TCP, or when SO_PEERCRED failed. */
export function unixPeerOf(info: { remoteAddress?: string }): UnixPeer | undefined {
  const m = /^unix-peer:pid=(\d+),uid=(\d+),gid=(\d+)$/.exec(info.remoteAddress ?? '');
  return m ? { pid: Number(m[1]), uid: Number(m[2]), gid: Number(m[3]) } : undefined;
}

/** A connection of a unix socket listener: TCP connections have a local port. */
export function isUnixConnection(info: { localPort?: number }): boolean {
  return info.localPort === undefined;
}

/**
 * Binds every configured listener to `server`. TCP listeners get
 * `tcpCredentials` (TLS when configured). Unix sockets are accepted by the
 * agent itself and handed to grpc-js (a connection injector), so that each
 * connection's SO_PEERCRED is read before its first call. On failure the
 * listeners already bound are closed and the error names the address.
 */
export async function bindListeners(
  server: grpc.Server,
  config: AgentConfig,
  tcpCredentials: grpc.ServerCredentials,
  log: Logger,
): Promise<BoundListener[]> {
  const bound: BoundListener[] = [];
  try {
    for (const listen of config.listeners) {
      bound.push(listen.kind === 'unix' ? await bindUnix(server, listen, config, log) : await bindTcp(server, listen, tcpCredentials));
    }
  } catch (err) {
    await Promise.all(bound.map((b) => b.close()));
    throw err;
  }
  return bound;
}

async function bindTcp(
  server: grpc.Server,
  listen: Extract<ListenAddress, { kind: 'tcp' }>,
  credentials: grpc.ServerCredentials,
): Promise<BoundListener> {
  const target = `${listen.host}:${listen.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(target, credentials, (err, p) =>
      err ? reject(new Error(`cannot listen on ${listen.text}: ${err.message}`)) : resolve(p),
    ),
  );
  // Nothing to close here: the gRPC server's shutdown closes its own ports
  // and waits for their calls (unbinding first would let it stop waiting).
  return { address: `${listen.host}:${port}`, close: () => Promise.resolve() };
}

async function bindUnix(
  server: grpc.Server,
  listen: Extract<ListenAddress, { kind: 'unix' }>,
  config: AgentConfig,
  log: Logger,
): Promise<BoundListener> {
  await fsp.mkdir(path.dirname(listen.path), { recursive: true, mode: 0o755 });
  // A socket file left by a previous agent that died would make bind fail;
  // one that a live process still serves is not ours to take over.
  if (await isServed(listen.path)) {
    throw new Error(
      `cannot listen on ${listen.text}: another process is serving ${listen.path} (another criu-agent?); stop it first, or use another --listen path`,
    );
  }
  await fsp.rm(listen.path, { force: true });
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = net.createServer((socket) => {
    recordPeer(socket, log);
    injector.injectConnection(socket);
  });
  // The socket is created with the umask's mode; tighten the umask for the
  // bind so there is no window in which others can connect.
  const oldUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', (err) => reject(new Error(`cannot listen on ${listen.text}: ${err.message}`)));
      listener.listen(listen.path, () => resolve());
    });
  } finally {
    process.umask(oldUmask);
  }
  listener.on('error', (err) => log.error({ address: listen.text, error: errorMessage(err) }, 'unix socket listener failed'));
  // Group first, then the mode: the socket is never open to a group it is not meant for.
  if (config.socketGroup) await fsp.chown(listen.path, -1, config.socketGroup.gid);
  await fsp.chmod(listen.path, config.socketMode);
  return {
    address: listen.text,
    close: async () => {
      // Its connections are the gRPC server's: shutting it down drains them.
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      await fsp.rm(listen.path, { force: true });
    },
  };
}

/** True when something accepts connections on the unix socket at `p` (false for no file, a stale socket, or no socket). */
function isServed(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(p);
    const done = (served: boolean): void => {
      socket.destroy();
      resolve(served);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function recordPeer(socket: net.Socket, log: Logger): void {
  // The accepted socket's fd: Node keeps it on the libuv handle.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return;
  try {
    const { pid, uid, gid } = loadAddon().peerCredentials(fd);
    Object.defineProperty(socket, 'remoteAddress', { value: `${PEER_PREFIX}pid=${pid},uid=${uid},gid=${gid}`, enumerable: true });
  } catch (err) {
    log.warn(
      { error: errorMessage(err) },
      'cannot read the unix socket peer credentials; the caller is identified as a unix socket client only',
    );
  }
}
