import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  createChannelPair,
  CriuTransportError,
  ServiceSocketLauncher,
  SwrkLauncher,
  type CriuChannel,
  type CriuWorker,
} from '../../src/criu/transport';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Inodes of the sockets this process has open. */
function openSockets(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith('socket:')) out.push(target);
    } catch {
      // the fd of readdir itself
    }
  }
  return out.sort();
}

async function expectTransportError(p: Promise<unknown>, code: string): Promise<CriuTransportError> {
  const err: unknown = await p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CriuTransportError);
  expect((err as CriuTransportError).code).toBe(code);
  return err as CriuTransportError;
}

let tmp: string;
let python: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'transport-test-'));
  python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('SeqpacketChannel over a socketpair', () => {
  let a: CriuChannel;
  let b: CriuChannel;
  beforeEach(() => {
    [a, b] = createChannelPair();
  });
  afterEach(() => {
    a.close();
    b.close();
  });

  it('round-trips messages both ways, keeping boundaries and order', async () => {
    a.send(enc('hello'));
    a.send(enc('world'));
    expect(dec(await b.receive())).toBe('hello');
    expect(dec(await b.receive())).toBe('world');
    const pending = a.receive();
    b.send(enc('back'));
    expect(dec(await pending)).toBe('back');
  });

  it('queues messages that arrive while nobody waits', async () => {
    for (let i = 0; i < 5; i++) a.send(enc(`m${i}`));
    await new Promise((r) => setTimeout(r, 50));
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(dec(await b.receive()));
    expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it.each([1, 2, 100, 4096, 65535, 65536, 212992, 512 * 1024, 1024 * 1024])('carries a %i-byte message intact', async (size) => {
    const sent = randomBytes(size);
    a.send(sent);
    const got = await b.receive();
    expect(got).toBeInstanceOf(Uint8Array);
    expect(got.byteLength).toBe(size);
    expect(Buffer.compare(Buffer.from(got.buffer, got.byteOffset, got.byteLength), sent)).toBe(0);
    // and back
    b.send(got);
    const back = await a.receive();
    expect(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), sent)).toBe(0);
  });

  it('delivers mixed sizes in one burst as separate messages', async () => {
    const sizes = [1, 1024 * 1024, 3, 70000, 1];
    const sent = sizes.map((n) => randomBytes(n));
    for (const m of sent) a.send(m);
    for (const m of sent) {
      const got = await b.receive();
      expect(Buffer.compare(Buffer.from(got.buffer, got.byteOffset, got.byteLength), m)).toBe(0);
    }
  });

  it('rejects receive() with CriuTransportError("closed") at EOF, after the queued messages', async () => {
    a.send(enc('last'));
    a.close();
    expect(dec(await b.receive())).toBe('last');
    const err = await expectTransportError(b.receive(), 'ECLOSED');
    expect(err.message).toBe('closed');
    await expectTransportError(b.receive(), 'ECLOSED');
    expect(() => b.send(enc('x'))).toThrow(CriuTransportError);
  });

  it('rejects a pending receive() when the peer closes', async () => {
    const pending = b.receive();
    a.close();
    await expectTransportError(pending, 'ECLOSED');
  });

  it('close() is idempotent and fails pending and later calls', async () => {
    const pending = a.receive();
    a.close();
    a.close();
    await expectTransportError(pending, 'ECLOSED');
    await expectTransportError(a.receive(), 'ECLOSED');
    let thrown: unknown;
    try {
      a.send(enc('x'));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CriuTransportError);
    expect((thrown as CriuTransportError).code).toBe('ECLOSED');
    await expectTransportError(b.receive(), 'ECLOSED');
    b.close();
    b.close();
  });

  it('rejects with signal.reason when the signal aborts while waiting, without losing later messages', async () => {
    const ac = new AbortController();
    const reason = new Error('operation cancelled');
    const pending = b.receive(ac.signal);
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    a.send(enc('after abort'));
    expect(dec(await b.receive())).toBe('after abort');
  });

  it('rejects at once with an already aborted signal', async () => {
    const ac = new AbortController();
    ac.abort(new Error('already'));
    await expect(b.receive(ac.signal)).rejects.toThrow('already');
  });

  it('resolves normally when a message arrives before the signal aborts', async () => {
    const ac = new AbortController();
    const pending = b.receive(ac.signal);
    a.send(enc('in time'));
    expect(dec(await pending)).toBe('in time');
    ac.abort(); // no effect now
  });

  it('refuses empty messages (the peer would read EOF)', () => {
    expect(() => a.send(new Uint8Array(0))).toThrow(CriuTransportError);
  });

  it('reports a full peer queue as EAGAIN instead of blocking', async () => {
    let sent = 0;
    let thrown: unknown;
    try {
      for (; sent < 100000; sent++) a.send(enc(`n${sent}`));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CriuTransportError);
    expect((thrown as CriuTransportError).code).toBe('EAGAIN');
    expect(sent).toBeGreaterThan(0);
    for (let i = 0; i < sent; i++) expect(dec(await b.receive())).toBe(`n${i}`);
  });

  it('leaks no sockets', () => {
    a.close();
    b.close();
    const before = openSockets();
    for (let i = 0; i < 20; i++) {
      const [x, y] = createChannelPair();
      x.close();
      y.close();
    }
    expect(openSockets()).toEqual(before);
  });
});

describe('ServiceSocketLauncher', () => {
  it('rejects with ENOENT and a hint when the socket does not exist', async () => {
    const launcher = new ServiceSocketLauncher({ socketPath: path.join(tmp, 'nope.sock') });
    const err = await expectTransportError(launcher.open(), 'ENOENT');
    expect(err.message).toMatch(/criu service/);
  });

  it('rejects with ECONNREFUSED when nothing listens', async () => {
    const file = path.join(tmp, 'plain-file');
    writeFileSync(file, '');
    await expectTransportError(new ServiceSocketLauncher({ socketPath: file }).open(), 'ECONNREFUSED');
  });

  it('rejects a stream socket (EPROTOTYPE)', async () => {
    const sock = path.join(tmp, 'stream.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      await expectTransportError(new ServiceSocketLauncher({ socketPath: sock }).open(), 'EPROTOTYPE');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('talks to a SOCK_SEQPACKET server and ends when the server closes', async () => {
    const sock = path.join(tmp, 'echo.sock');
    const server = spawn(
      python,
      [
        '-c',
        `
import socket, sys
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind(sys.argv[1]); srv.listen(8)
print("ready", flush=True)
while True:
    c, _ = srv.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)  # 1 MiB replies
    while True:
        m = c.recv(4 << 20)
        if not m or m == b"bye":
            break
        c.send(m)
    c.close()
`,
        sock,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout.once('data', () => resolve());
        server.once('exit', () => reject(new Error('echo server exited')));
      });
      const launcher = new ServiceSocketLauncher({ socketPath: sock });
      const before = openSockets();

      const w1 = await launcher.open();
      expect(w1.description).toContain(sock);
      const big = randomBytes(1024 * 1024);
      w1.channel.send(big);
      expect(Buffer.compare(Buffer.from(await w1.channel.receive()), big)).toBe(0);
      w1.channel.send(enc('bye'));
      await expectTransportError(w1.channel.receive(), 'ECLOSED');
      expect(await w1.exited).toEqual({ code: null, signal: null, stderr: '' });

      const w2 = await launcher.open();
      w2.channel.send(enc('ping'));
      expect(dec(await w2.channel.receive())).toBe('ping');
      await w2.dispose();
      await w2.dispose();
      w2.kill();
      await w2.exited;
      expect(openSockets()).toEqual(before);
    } finally {
      server.kill('SIGKILL');
    }
  });
});

describe('SwrkLauncher', () => {
  // Stands in for `criu swrk 3`: echoes packets on fd 3 until EOF.
  let fakeCriu: string;
  beforeAll(() => {
    fakeCriu = path.join(tmp, 'fake-criu');
    writeFileSync(
      fakeCriu,
      `#!${python}
import fcntl, os, socket, sys, time
assert sys.argv[1:] == ["swrk", "3"], sys.argv
sk = socket.socket(fileno=3)
blocking = not (fcntl.fcntl(3, fcntl.F_GETFL) & os.O_NONBLOCK)
cloexec = bool(fcntl.fcntl(3, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
sys.stderr.write("fake criu up\\n"); sys.stderr.flush()
while True:
    m = sk.recv(4 << 20)
    if not m:
        break
    if m == b"info":
        socks = []
        for f in sorted(os.listdir("/proc/self/fd")):
            try:
                if int(f) > 2 and os.readlink("/proc/self/fd/" + f).startswith("socket:"):
                    socks.append(f)
            except OSError:
                pass  # listdir's own fd
        m = ("type=%d blocking=%s cloexec=%s sockets=%s" % (sk.type, blocking, cloexec, socks)).encode()
    elif m == b"crash":
        sys.stderr.write("x" * 100000 + "crashing\\n"); sys.stderr.flush()
        os._exit(3)
    elif m == b"fork":
        child = os.fork()
        if child == 0:
            os.kill(os.getpid(), 19)  # SIGSTOP: as CRIU's kerndat probes are left
            os._exit(0)
        m = str(child).encode()
    elif m == b"hang":
        while True:
            time.sleep(1000)
    sk.send(m)
sys.stderr.write("fake criu: EOF\\n")
`,
    );
    chmodSync(fakeCriu, 0o755);
  });

  const workers: CriuWorker[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.dispose(100);
  });
  async function open(): Promise<CriuWorker> {
    const w = await new SwrkLauncher({ criuPath: fakeCriu }).open();
    workers.push(w);
    return w;
  }

  it('rejects with ENOENT and says to provision CRIU when the binary is missing', async () => {
    const before = openSockets();
    const err = await expectTransportError(new SwrkLauncher({ criuPath: path.join(tmp, 'no-criu') }).open(), 'ENOENT');
    expect(err.message).toContain('deploy/provision-criu.sh');
    expect(openSockets()).toEqual(before);
  });

  it('hands CRIU a blocking, inheritable SOCK_SEQPACKET fd 3 and no other socket beyond stdio', async () => {
    const w = await open();
    expect(w.description).toMatch(/^criu swrk \(pid \d+\)$/);
    w.channel.send(enc('info'));
    const info = dec(await w.channel.receive());
    expect(info).toMatch(new RegExp(`^type=${String(5)} blocking=True cloexec=False`)); // 5 = SOCK_SEQPACKET
    expect(info).toContain("sockets=['3']");
  });

  it('exchanges messages, closes cleanly on dispose and keeps stderr', async () => {
    const before = openSockets();
    const w = await new SwrkLauncher({ criuPath: fakeCriu }).open();
    const big = randomBytes(1024 * 1024);
    w.channel.send(big);
    expect(Buffer.compare(Buffer.from(await w.channel.receive()), big)).toBe(0);
    await w.dispose();
    const exit = await w.exited;
    expect(exit.code).toBe(0);
    expect(exit.signal).toBeNull();
    expect(exit.stderr).toBe('fake criu up\nfake criu: EOF\n');
    expect(openSockets()).toEqual(before);
    await w.dispose(); // idempotent
    w.kill();
  });

  it('reports a crash: receive rejects, exited has the code and the stderr tail', async () => {
    const before = openSockets();
    const w = await open();
    const pid = Number(/pid (\d+)/.exec(w.description)?.[1]);
    w.channel.send(enc('crash'));
    await expectTransportError(w.channel.receive(), 'ECLOSED');
    const exit = await w.exited;
    expect(exit.code).toBe(3);
    expect(exit.stderr.endsWith('crashing\n')).toBe(true);
    expect(exit.stderr.length).toBeLessThanOrEqual(64 * 1024);
    expect(existsSync(`/proc/${pid}`)).toBe(false); // reaped, no zombie
    expect(openSockets()).toEqual(before);
  });

  it('SIGKILLs a worker that does not exit within the grace period', async () => {
    const w = await open();
    w.channel.send(enc('hang'));
    const t0 = Date.now();
    await w.dispose(300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect((await w.exited).signal).toBe('SIGKILL');
  });

  it('runs CRIU in a process group of its own, and kill() takes CRIU\'s stopped children along', async () => {
    const w = await open();
    expect(w.pid).toBeGreaterThan(0);
    const stat = (pid: number): string[] => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    expect(Number(stat(w.pid ?? 0)[2])).toBe(w.pid); // pgrp
    w.channel.send(enc('fork'));
    const child = Number(dec(await w.channel.receive()));
    for (let i = 0; i < 200 && stat(child)[0] !== 'T'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(stat(child)[0]).toBe('T');
    w.kill();
    await w.exited;
    for (let i = 0; i < 200 && existsSync(`/proc/${child}`) && stat(child)[0] !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(!existsSync(`/proc/${child}`) || stat(child)[0] === 'Z').toBe(true);
  });

  it('kill() stops the worker at once and fails a pending receive', async () => {
    const w = await open();
    const pending = w.channel.receive();
    w.kill();
    w.kill();
    await expectTransportError(pending, 'ECLOSED');
    expect((await w.exited).signal).toBe('SIGKILL');
  });
});
