/**
 * The destination's relay to its local CRIU page server, against a stand-in
 * page server on loopback: however the page server goes away, the relay says
 * so (onEnd), since the source's dump waits for its answers until told.
 */
import * as net from 'node:net';
import { PageServerRelay } from '../../src/service/migrate-target';

let server: net.Server;
let port: number;
/** What the stand-in page server does with a connection. */
let behave: (sock: net.Socket) => void;
const accepted: net.Socket[] = [];

beforeEach(async () => {
  server = net.createServer((sock) => {
    accepted.push(sock);
    behave(sock);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterEach(async () => {
  for (const sock of accepted.splice(0)) sock.destroy();
  await new Promise((resolve) => server.close(resolve));
});

function relayWithEnd(): { relay: PageServerRelay; ended: Promise<void>; back: Buffer[] } {
  const back: Buffer[] = [];
  let ended!: () => void;
  const endedP = new Promise<void>((r) => (ended = r));
  const relay = new PageServerRelay(
    port,
    (bytes) => {
      back.push(bytes);
      return Promise.resolve();
    },
    () => {
      ended();
      return Promise.resolve();
    },
  );
  return { relay, ended: endedP, back };
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

it('a page server that dies with bytes of the dump unread (a reset, no FIN) ends the relay: onEnd runs, later bytes are dropped', async () => {
  // Seen in the soak: a page server failing on a full disk mid-transfer; before the fix only a FIN counted as its end.
  behave = (sock) => sock.once('data', () => sock.resetAndDestroy());
  const { relay, ended } = relayWithEnd();
  await relay.write(Buffer.alloc(1 << 20, 1));
  await within(ended, 5000, 'onEnd after the reset');
  // The dump may still send before it hears: nobody reads it, and it is no error of the call.
  await expect(relay.write(Buffer.alloc(1024, 2))).resolves.toBeUndefined();
  relay.destroy();
});

it('a page server that answers and closes (FIN) ends the relay after its answer was sent back, once', async () => {
  behave = (sock) => sock.once('data', () => sock.end(Buffer.from('answer')));
  const { relay, ended, back } = relayWithEnd();
  let ends = 0;
  void ended.then(() => ends++);
  await relay.write(Buffer.from('request'));
  await within(ended, 5000, 'onEnd after the FIN');
  await new Promise((r) => setTimeout(r, 100)); // the 'close' after the 'end' must not report again
  expect(Buffer.concat(back).toString()).toBe('answer');
  expect(ends).toBe(1);
  relay.destroy();
});

it('destroy() (the call is over) reports nothing', async () => {
  behave = () => undefined;
  let ends = 0;
  const relay = new PageServerRelay(port, () => Promise.resolve(), () => {
    ends++;
    return Promise.resolve();
  });
  await relay.write(Buffer.from('x'));
  relay.destroy();
  await new Promise((r) => setTimeout(r, 100));
  expect(ends).toBe(0);
});

it('slow writes leave no listeners behind on the connection (one per write piled up for the whole transfer)', async () => {
  // A page server that reads slowly: most writes wait for 'drain'.
  behave = (sock) => {
    sock.pause();
    const tick = setInterval(() => void sock.read(), 2);
    sock.once('close', () => clearInterval(tick));
  };
  const { relay } = relayWithEnd();
  for (let i = 0; i < 40; i++) await relay.write(Buffer.alloc(1 << 20, i));
  const sock = (relay as unknown as { socket: import('node:net').Socket }).socket;
  expect(sock.listenerCount('close')).toBeLessThanOrEqual(2); // the relay's own: closed, and its end
  expect(sock.listenerCount('drain')).toBe(0);
  relay.destroy();
});
