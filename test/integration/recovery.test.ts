/**
 * CRIU page servers (ReceiveMigration's destination side) never outlive
 * their migration, against real CRIU: not when the call is cancelled while
 * one starts, and not when the agent dies (its next start kills them).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/config';
import { RpcCriuClient } from '../../src/criu/client';
import { SwrkLauncher } from '../../src/criu/transport';
import { createLogger } from '../../src/log';
import { readStat } from '../../src/proctree';
import { recoverEarlierRun } from '../../src/service/recovery';
import { waitUntil } from '../helpers/wait';
import { freePort } from '../helpers/net';

const criuPath = loadConfig({ env: process.env }).criuPath;
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-recovery-'));
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});


const clientOf = (stateDir: string): RpcCriuClient => new RpcCriuClient(new SwrkLauncher({ criuPath, owner: stateDir }), 'criu swrk (test)');

/** A page server as ReceiveMigration starts one (swrk, in a temporary checkpoint directory of `stateDir`), never connected to. */
async function pageServerOf(stateDir: string): Promise<number> {
  const dir = path.join(stateDir, 'checkpoints', '.tmp-migrated-1');
  fs.mkdirSync(dir, { recursive: true });
  return (await clientOf(stateDir).pageServer(dir, 'page-server.log', { address: '127.0.0.1', port: await freePort() })).pid;
}

/** Page servers working in `dir` (their title hides everything else). */
function pageServersIn(dir: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').startsWith('criu: page-server') && fs.readlinkSync(`/proc/${n}/cwd`) === dir;
      } catch {
        return false;
      }
    })
    .map(Number);
}

const running = async (pid: number): Promise<boolean> => {
  const st = await readStat(pid).catch(() => null);
  return st !== null && st.state !== 'Z';
};

it("kills the page servers an earlier run left waiting for a source that never came, and no other state directory's", async () => {
  // Seen in the soak: the agent SIGKILLed between starting a page server and
  // the source's first page; CRIU's title hides the agent's mark from
  // /proc/PID/environ, so the start after it did not find it, and it waited in accept() for good.
  const mine = path.join(root, 'mine');
  const other = path.join(root, 'other');
  const left = await pageServerOf(mine);
  const foreign = await pageServerOf(other);
  try {
    const lines: string[] = [];
    const recovery = await recoverEarlierRun(mine, createLogger('warn', (l) => void lines.push(l)));
    await recovery.done;
    await waitUntil(`page server ${left} gone`, async () => !(await running(left)), 5000);
    expect(lines.join('\n')).toMatch(new RegExp(`"pid":${left}.*killed a CRIU page server an earlier run started`));
    expect(await running(foreign)).toBe(true);
  } finally {
    for (const pid of [left, foreign]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

it('a page server whose call is cancelled while it starts does not outlive the call', async () => {
  // Seen in the 2-minute soak: killing swrk mid-start does not reach the page
  // server, a daemon in a session of its own, which then waited for good.
  const stateDir = path.join(root, 'state');
  const criu = clientOf(stateDir);
  const left: number[] = [];
  for (let i = 0; i < 8; i++) {
    const dir = path.join(stateDir, 'checkpoints', `.tmp-cancelled-${i}`);
    fs.mkdirSync(dir, { recursive: true });
    const controller = new AbortController();
    const reason = new Error('cancelled by the test');
    // The cancel lands as soon as the page server exists, before CRIU's reply is read.
    const watch = setInterval(() => {
      if (pageServersIn(dir).length > 0) controller.abort(reason);
    }, 1);
    const got = await criu
      .pageServer(dir, 'page-server.log', { address: '127.0.0.1', port: await freePort() }, controller.signal)
      .catch((e: unknown) => e)
      .finally(() => clearInterval(watch));
    if (controller.signal.aborted) expect(got).toBe(reason);
    else process.kill((got as { pid: number }).pid, 'SIGKILL'); // answered before the watch saw it: the caller's to stop
    await new Promise((r) => setTimeout(r, 200));
    left.push(...pageServersIn(dir).filter((pid) => !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')));
  }
  for (const pid of left) process.kill(pid, 'SIGKILL');
  expect(left).toEqual([]);
});
