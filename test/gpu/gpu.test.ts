/**
 * test:gpu: real CUDA targets (PyTorch, test/gpu/target.py) through the real
 * agent and CRIU on a machine with an NVIDIA GPU. Runs with node's own test
 * runner (node --test) from JavaScript compiled by test/gpu/tsconfig.json,
 * so the GPU machine needs neither jest nor TypeScript (scripts/gpu-bundle.sh).
 * Not part of `npm test`. On a machine without a GPU it FAILS, saying so:
 * it runs only where asked, and must never pass without having run.
 *
 * Environment: CRIU_AGENT_CRIU_PATH (default /usr/local/sbin/criu),
 * GPU_TEST_PYTHON (default python3), GPU_TEST_MIB (tensor MiB, default 256),
 * GPU_TEST_OUT (a folder for results.json and the agent's logs).
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CudaDriver } from '../../src/gpu';
import { call, gpuHash, OUT, startAgent, startTarget, waitPidFree, waitState, type Agent, type Json } from './harness';

const results: Record<string, unknown>[] = [];

let agent: Agent;
let seq = 0;
const id = (what: string): string => `${what}-${process.pid}-${seq++}`;
const gpuPids = (r: Json): number[] => ((r.gpu as Json[] | undefined) ?? []).map((g) => Number(g.pid));

before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  const probe = new CudaDriver().probe();
  if (!probe.driverLoaded) {
    throw new Error(`no NVIDIA driver (libcuda.so.1 not found): test:gpu runs only on a machine with an NVIDIA GPU (${probe.loadError})`);
  }
  if (!probe.checkpointApi) throw new Error(`NVIDIA driver without the CUDA checkpoint API: ${JSON.stringify(probe)}`);
  agent = await startAgent();
});

after(() => {
  agent?.client.close();
  agent?.child.kill('SIGTERM');
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 2));
});

void describe('GPU trees through the agent and CRIU', () => {
  void test('Check reports the driver, the checkpoint API and the GPUs', async () => {
    const r = await call(agent, 'Check', {});
    const gpu = r.gpu as Json;
    results.push({ case: 'check', gpu });
    assert.equal(gpu.checkpoint_api, true);
    assert.ok((gpu.gpus as Json[]).length >= 1);
  });

  void test('Dump RUNNING: the tree runs on with its GPU data bit for bit', async () => {
    const t = await startTarget();
    const r = await call(agent, 'Dump', { pid: t.pid, checkpoint_id: id('running'), final_state: 'FINAL_STATE_RUNNING' });
    results.push({ case: 'dump-running', reply: r });
    assert.deepEqual(gpuPids(r), [t.pid]);
    await waitState(t.pid, 'running');
    assert.equal(await gpuHash(t), t.sha256);
    process.kill(t.pid, 'SIGKILL');
  });

  void test('Dump STOPPED, then Continue alone: running with its GPU data', async () => {
    const t = await startTarget();
    const r = await call(agent, 'Dump', { pid: t.pid, checkpoint_id: id('stopped'), final_state: 'FINAL_STATE_STOPPED' });
    results.push({ case: 'dump-stopped', reply: r });
    await waitState(t.pid, 'stopped');
    const c = await call(agent, 'Continue', { pid: t.pid });
    results.push({ case: 'continue-after-dump', reply: c });
    assert.deepEqual(gpuPids(c), [t.pid]);
    await waitState(t.pid, 'running');
    assert.equal(await gpuHash(t), t.sha256);
    process.kill(t.pid, 'SIGKILL');
  });

  void test('Dump DEAD, Restore RUNNING, then Restore STOPPED + Continue: GPU data bit for bit each time', async () => {
    const t = await startTarget();
    const ckpt = id('dead');
    const d = await call(agent, 'Dump', { pid: t.pid, checkpoint_id: ckpt });
    results.push({ case: 'dump-dead', reply: d });
    assert.equal(d.final_state, 'FINAL_STATE_DEAD');
    assert.deepEqual(gpuPids(d), [t.pid]);
    await waitState(t.pid, 'gone');
    await waitPidFree(t.pid);

    const r = await call(agent, 'Restore', { checkpoint_id: ckpt });
    results.push({ case: 'restore-running', reply: r });
    assert.equal(r.final_state, 'FINAL_STATE_RUNNING');
    assert.deepEqual(gpuPids(r), [t.pid]);
    assert.equal(await gpuHash(t), t.sha256);
    process.kill(t.pid, 'SIGKILL');
    await waitPidFree(t.pid);

    const s = await call(agent, 'Restore', { checkpoint_id: ckpt, final_state: 'FINAL_STATE_STOPPED' });
    results.push({ case: 'restore-stopped', reply: s });
    await waitState(t.pid, 'stopped');
    const c = await call(agent, 'Continue', { pid: t.pid });
    results.push({ case: 'continue-after-restore', reply: c });
    assert.deepEqual(gpuPids(c), [t.pid]);
    assert.equal(await gpuHash(t), t.sha256);
    process.kill(t.pid, 'SIGKILL');
  });

  void test('a failure injected after Checkpoint leaves the tree running with its GPU data', async () => {
    const faulty = await startAgent({ CRIU_AGENT_TEST_GPU_FAULT: 'after-checkpoint' });
    try {
      const t = await startTarget();
      const err = await call(faulty, 'Dump', { pid: t.pid, checkpoint_id: id('fault') }).then(
        () => assert.fail('the Dump should have failed'),
        (e: grpc.ServiceError) => e,
      );
      results.push({ case: 'fault-after-checkpoint', error: err.details, code: err.code });
      assert.match(err.details, /injected failure after cuCheckpointProcessCheckpoint/);
      await waitState(t.pid, 'running');
      assert.equal(new CudaDriver().getState(t.pid), 'running');
      assert.equal(await gpuHash(t), t.sha256);
      process.kill(t.pid, 'SIGKILL');
    } finally {
      faulty.client.close();
      faulty.child.kill('SIGTERM');
    }
  });
});
