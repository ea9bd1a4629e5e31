/**
 * What a start of the agent cleans up after an earlier run, against real
 * CRIU: here, the page servers that run ReceiveMigration's destination side.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/config';
import { RpcCriuClient } from '../../src/criu/client';
import { SwrkLauncher } from '../../src/criu/transport';
import { createLogger } from '../../src/log';
import { readStat } from '../../src/proctree';
import { recoverEarlierRun } from '../../src/service/recovery';
import { waitUntil } from '../helpers/wait';

const criuPath = loadConfig({ env: process.env }).criuPath;
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-recovery-'));
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A page server as ReceiveMigration starts one (swrk, in a temporary checkpoint directory of `stateDir`), never connected to. */
async function pageServerOf(stateDir: string): Promise<number> {
  const dir = path.join(stateDir, 'checkpoints', '.tmp-migrated-1');
  fs.mkdirSync(dir, { recursive: true });
  const criu = new RpcCriuClient(new SwrkLauncher({ criuPath, owner: stateDir }), 'criu swrk (test)');
  return (await criu.pageServer(dir, 'page-server.log', { address: '127.0.0.1', port: await freePort() })).pid;
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
