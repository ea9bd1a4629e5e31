/**
 * The soak's agent handle tells a crash from its own kills: the 30-minute
 * soak once ran six minutes against an agent that had died on an unhandled
 * rejection, and saw only unanswered calls.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SoakAgent } from '../../bench/soak/agent';
import { waitFor } from '../helpers/wait';

jest.setTimeout(60_000);

let dir: string;
let agent: SoakAgent;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-soak-agent-'));
  agent = new SoakAgent(path.join(dir, 'agent.sock'), path.join(dir, 'state'), path.join(dir, 'agent.log'));
});

afterEach(async () => {
  if (agent.running()) await agent.stop(); // the test's last step stops it
  fs.rmSync(dir, { recursive: true, force: true });
});

it('an agent that exits on its own is reported with how it ended; the soak killing or stopping it is not', async () => {
  const crashes: string[] = [];
  agent.onCrash = (how) => crashes.push(how);
  await agent.start();
  await agent.kill(); // the agent-kill fault
  expect(crashes).toEqual([]);

  await agent.start();
  process.kill(agent.pid, 'SIGKILL'); // not the soak's doing
  expect(await waitFor('the crash report', () => crashes[0], 10_000)).toBe('killed by SIGKILL');

  await agent.start();
  await agent.stop();
  await new Promise((r) => setTimeout(r, 200));
  expect(crashes).toHaveLength(1);
});
