/**
 * --criu-socket: the agent drives an existing `criu service` instead of
 * starting `criu swrk` per operation.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CheckResponse__Output } from '../../src/generated/criu_agent/v1/CheckResponse';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import type { RestoreResponse__Output } from '../../src/generated/criu_agent/v1/RestoreResponse';
import { loadConfig } from '../../src/config';
import { waitForPidFree, waitForTreeStatus } from '../../src/proctree';
import { call, expectStatus, startAgent, type AgentProcess } from '../helpers/agent';
import { killAllTargets, startTarget } from '../helpers/target';

jest.setTimeout(120_000);

let dir: string;
let service: ChildProcess;
let agent: AgentProcess;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-service-'));
  const socket = path.join(dir, 'criu.sock');
  const criu = loadConfig({ env: process.env }).criuPath;
  service = spawn(criu, ['service', '--address', socket, '-o', path.join(dir, 'service.log'), '-v4'], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
  expect(fs.existsSync(socket)).toBe(true);
  agent = await startAgent({ args: ['--criu-socket', socket] });
});

afterAll(async () => {
  await killAllTargets();
  await agent?.dispose();
  service?.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

it('checks, dumps and restores through a criu service socket', async () => {
  const check = await call<CheckResponse__Output>(agent.client, 'Check', {});
  expect(check.criu_transport).toMatch(/criu service/);
  expect(check.criu_version).toMatch(/^\d+\.\d+/);

  const t = await startTarget({ children: 1 });
  const before = await t.query();
  const id = `svc-${process.pid}`;
  const r = await call<DumpResponse__Output>(agent.client, 'Dump', { pid: t.pid, checkpoint_id: id });
  expect(r.final_state).toBe('FINAL_STATE_DEAD');
  for (const pid of t.allPids) expect(await waitForPidFree(pid, 15_000)).toBe(true);

  const rr = await call<RestoreResponse__Output>(agent.client, 'Restore', { checkpoint_id: id });
  expect(rr.pid).toBe(t.pid);
  expect((await waitForTreeStatus(t.pid, 'running')).status).toBe('running');
  const after = await t.query(5000);
  expect(after.counter).toBeGreaterThanOrEqual(before.counter);
  expect(after.mem_sha256_now).toBe(before.mem_sha256_at_start);
});

it('answers UNAVAILABLE naming the socket when the service is gone, and leaves the tree alone', async () => {
  service.kill('SIGKILL');
  await new Promise((r) => service.once('exit', r));
  fs.rmSync(path.join(dir, 'criu.sock'), { force: true });
  const t = await startTarget({ children: 0 });
  await expectStatus(
    call(agent.client, 'Dump', { pid: t.pid, checkpoint_id: `svc-gone-${process.pid}`, final_state: 'FINAL_STATE_RUNNING' }),
    grpc.status.UNAVAILABLE,
    /criu\.sock/,
  );
  expect((await waitForTreeStatus(t.pid, 'running')).status).toBe('running');
});
