/**
 * The agent dying mid-dump (SIGKILL, OOM) must not take the tree with it:
 * CRIU is not killed with the agent (it may be inside the tree) but fails at
 * its next notification, as nobody answers, and rolls back by itself; the
 * tree runs on, and no checkpoint appears.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { snapshotTree, waitForTreeStatus } from '../../src/proctree';
import { call, startAgent, type AgentProcess, hasDumpLog } from '../helpers/agent';
import { killAllTargets, startTarget } from '../helpers/target';

jest.setTimeout(120_000);

let agent: AgentProcess | undefined;

afterAll(async () => {
  await killAllTargets();
  await agent?.dispose();
});

it('SIGKILL of the agent mid-dump leaves the tree running and no checkpoint; the next start sweeps the leftovers', async () => {
  agent = await startAgent();
  const t = await startTarget({ children: 1, extraMiB: 1024 });
  const before = await t.query();
  const id = `crash-${process.pid}`;
  const pending = call(agent.client, 'Dump', { pid: t.pid, checkpoint_id: id }).catch((e: grpc.ServiceError) => e);

  // Kill the agent as soon as CRIU is at work (its log exists in the
  // temporary directory): a 1 GiB tree keeps CRIU busy for a second or so.
  const checkpoints = path.join(agent.stateDir, 'checkpoints');
  const criuStarted = (): boolean =>
    fs.readdirSync(checkpoints).some((n) => n.startsWith(`.tmp-${id}-`) && hasDumpLog(path.join(checkpoints, n)));
  for (let i = 0; i < 1000 && !criuStarted(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(criuStarted()).toBe(true);
  const criuPid = (await snapshotTree(agent.pid))?.processes.find((p) => p.comm === 'criu')?.pid ?? 0;
  expect(criuPid).toBeGreaterThan(0);
  await agent.stop('SIGKILL');
  expect((await pending) instanceof Error).toBe(true);

  // CRIU rolled back and exited by itself, and the tree was released, not killed.
  const criuGone = await waitForTreeStatus(criuPid, 'gone', 60_000);
  expect(criuGone.status).toBe('gone');
  expect((await waitForTreeStatus(t.pid, 'running', 5000)).status).toBe('running');
  const after = await t.query(5000);
  expect(after.counter).toBeGreaterThan(before.counter);
  expect(after.mem_sha256_now).toBe(before.mem_sha256_at_start);
  expect(fs.existsSync(path.join(checkpoints, id))).toBe(false);
  expect(fs.readdirSync(checkpoints).filter((n) => n.startsWith('.tmp-'))).toHaveLength(1);

  agent = await agent.restart();
  expect(fs.readdirSync(checkpoints)).toEqual([]);
});
