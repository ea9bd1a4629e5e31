/**
 * The real CudaDriver and the addon's libcuda binding (src/native/cuda.cc)
 * against a stand-in libcuda built from test/fixtures/fake-libcuda.c: checks
 * the argument structs' layout as NVIDIA documents it, error names, and that
 * a node without libcuda.so.1 says so. Each case runs in its own node process
 * because the addon loads libcuda once per process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
let dir: string;
let lib: string;
let libNoApi: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fake-cuda-'));
  lib = path.join(dir, 'libcuda.so.1');
  libNoApi = path.join(dir, 'libcuda-old.so.1');
  const src = path.join(root, 'test', 'fixtures', 'fake-libcuda.c');
  execFileSync('cc', ['-shared', '-fPIC', '-Wall', '-o', lib, src]);
  execFileSync('cc', ['-shared', '-fPIC', '-DNO_API', '-o', libNoApi, src]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `body` (JS using `driver`, a CudaDriver on `libPath`) in a fresh node; returns its JSON output and the fake's log. */
function run(libPath: string, body: string, env: Record<string, string> = {}): { out: unknown; log: string[] } {
  const log = path.join(dir, `log-${Math.random()}`);
  const code = `
    const { CudaDriver } = require(${JSON.stringify(path.join(root, 'dist', 'gpu', 'cuda.js'))});
    const driver = new CudaDriver(undefined, ${JSON.stringify(libPath)});
    (async () => { const out = await (async () => { ${body} })(); process.stdout.write(JSON.stringify(out)); })()
      .catch((e) => { process.stdout.write(JSON.stringify({ thrown: e.message, name: e.name, code: e.code, timeout: e.isTimeout })); });
  `;
  const r = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, FAKE_CUDA_LOG: log, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node failed: ${r.stderr}`);
  let lines: string[] = [];
  try {
    lines = readFileSync(log, 'utf8').trim().split('\n');
  } catch {
    // no calls
  }
  return { out: JSON.parse(r.stdout) as unknown, log: lines };
}

test('probe: driver version, cuInit, devices with UUIDs and memory', () => {
  const { out, log } = run(lib, 'return driver.probe();');
  expect(out).toEqual({
    driverLoaded: true,
    loadError: '',
    driverVersion: 12080,
    checkpointApi: true,
    initError: '',
    devices: [
      { index: 0, name: 'Fake H200 #0', uuid: '000102030405060708090a0b0c0d0e0f', totalBytes: 2 ** 30 },
      { index: 1, name: 'Fake H200 #1', uuid: '101112131415161718191a1b1c1d1e1f', totalBytes: 2 * 2 ** 30 },
    ],
  });
  expect(log).toEqual(['init 0']);
});

test('no libcuda.so.1: probe says so and never throws', () => {
  const { out } = run(path.join(dir, 'missing', 'libcuda.so.1'), 'return driver.probe();');
  expect(out).toMatchObject({ driverLoaded: false, checkpointApi: false, driverVersion: 0 });
  expect((out as { loadError: string }).loadError).toMatch(/cannot open shared object file/);
});

test('a driver without cuCheckpointProcess*: checkpointApi false, version still known', () => {
  const { out } = run(libNoApi, 'return driver.probe();');
  expect(out).toMatchObject({ driverLoaded: true, checkpointApi: false, driverVersion: 12080 });
});

test('cuInit failing (no device): checkpointApi false with the error name', () => {
  const { out } = run(lib, 'return driver.probe();', { FAKE_CUDA_FAIL: 'init:100' });
  expect(out).toMatchObject({ checkpointApi: false, initError: 'CUDA_ERROR_NO_DEVICE', devices: [] });
});

test("lock/checkpoint/restore/unlock pass pid, timeout and remap pairs in NVIDIA's struct layout", () => {
  const { out, log } = run(
    lib,
    `await driver.lock(4242, 7000); await driver.checkpoint(4242);
     await driver.restore(4242, [{ oldUuid: '0a' + '0'.repeat(30), newUuid: 'GPU-0b000000-0000-0000-0000-000000000000' }]);
     await driver.restore(4243); await driver.unlock(4242);
     return [driver.getState(4242), driver.getState(4241), driver.getState(4243)];`,
  );
  expect(out).toEqual(['checkpointed', 'locked', 'failed']);
  expect(log).toEqual([
    'init 0',
    'lock 4242 timeout=7000 zero=1',
    'checkpoint 4242 zero=1',
    'restore 4242 pairs=1 first=10011',
    'restore 4243 pairs=0 first=0',
    'unlock 4242 zero=1',
  ]);
});

test('a failing call rejects with the step, pid and cuGetErrorName; a Lock timeout is recognised', () => {
  const { out } = run(lib, 'await driver.lock(4242, 10);', { FAKE_CUDA_FAIL: 'lock:909' });
  expect(out).toMatchObject({ name: 'GpuCallError', timeout: true });
  expect((out as { thrown: string }).thrown).toBe('cuCheckpointProcessLock(4242) failed: CUDA_ERROR_TIMEOUT (909)');
});

test('getState of a process the driver does not know throws', () => {
  const { out } = run(lib, 'return driver.getState(1);');
  expect((out as { thrown: string }).thrown).toMatch(/CUDA_ERROR_NOT_FOUND \(500\)/);
});
