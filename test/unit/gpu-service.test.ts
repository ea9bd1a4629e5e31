import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentError } from '../../src/errors';
import { GpuDriverDouble } from '../../src/gpu/double';
import { withTestFault } from '../../src/gpu/faults';
import { CheckService } from '../../src/service/check';
import type { ServiceContext } from '../../src/service/context';
import { GpuCheckpointer } from '../../src/service/gpu';

let procRoot: string;

/** A fake /proc where each pid has fds; `nvidia` pids have /dev/nvidia0 open, `mapped` pids only map it. */
async function fakeProc(pids: { pid: number; nvidia?: boolean; mapped?: boolean }[]): Promise<void> {
  for (const p of pids) {
    const dir = path.join(procRoot, String(p.pid));
    await mkdir(path.join(dir, 'fd'), { recursive: true });
    await symlink('/dev/null', path.join(dir, 'fd', '0'));
    if (p.nvidia) await symlink('/dev/nvidia0', path.join(dir, 'fd', '5'));
    await writeFile(
      path.join(dir, 'maps'),
      p.mapped ? '7f00-7f10 rw-s 00000000 00:05 12 /dev/nvidia-uvm\n' : '7f00-7f10 r-xp 0 0:0 1 /usr/lib/libc.so.6\n',
    );
  }
}

function make(driver: GpuDriverDouble, rss = new Map<number, number>()): GpuCheckpointer {
  let t = 0;
  return new GpuCheckpointer(driver, {
    lockTimeoutMs: 5000,
    procRoot,
    now: () => (t += 10),
    residentBytes: (pid) => Promise.resolve(rss.get(pid) ?? 0),
  });
}

beforeEach(async () => {
  procRoot = await mkdtemp(path.join(os.tmpdir(), 'gpu-proc-'));
});
afterEach(async () => {
  await rm(procRoot, { recursive: true, force: true });
});

describe('GpuCheckpointer.beforeDump', () => {
  test('a tree without /dev/nvidia* asks no driver and returns null', async () => {
    await fakeProc([{ pid: 10 }, { pid: 11 }]);
    const driver = new GpuDriverDouble({
      driverLoaded: false,
      loadError: 'x',
      driverVersion: 0,
      checkpointApi: false,
      initError: '',
      devices: [],
    });
    const probe = jest.spyOn(driver, 'probe');
    await expect(make(driver).beforeDump([10, 11])).resolves.toBeNull();
    expect(probe).not.toHaveBeenCalled();
    expect(driver.calls).toEqual([]);
  });

  test('locks every GPU process before checkpointing any, with the timeout, and skips non-CUDA processes', async () => {
    await fakeProc([{ pid: 10 }, { pid: 11, nvidia: true }, { pid: 12, mapped: true }, { pid: 13, nvidia: true }]);
    // 13 opened the device but never called cuInit: the driver does not know it.
    const driver = new GpuDriverDouble().addProcess(11).addProcess(12);
    const dump = await make(driver).beforeDump([10, 11, 12, 13]);
    expect(dump?.pids).toEqual([11, 12]);
    expect(driver.trace).toEqual(['lock:11', 'lock:12', 'checkpoint:11', 'checkpoint:12']);
    expect(driver.calls[0]?.timeoutMs).toBe(5000);
    expect(driver.states.get(11)).toBe('checkpointed');
  });

  test('no driver: FAILED_PRECONDITION saying libcuda.so.1 is missing; nothing called', async () => {
    await fakeProc([{ pid: 11, nvidia: true }]);
    const driver = new GpuDriverDouble({
      driverLoaded: false,
      loadError: 'libcuda.so.1: cannot open shared object file',
      driverVersion: 0,
      checkpointApi: false,
      initError: '',
      devices: [],
    });
    const err = await make(driver)
      .beforeDump([11])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).kind).toBe('failed-precondition');
    expect((err as AgentError).message).toMatch(/no NVIDIA driver \(libcuda.so.1 not found/);
    expect(driver.calls).toEqual([]);
  });

  test('a driver without the checkpoint API: FAILED_PRECONDITION naming the driver version', async () => {
    await fakeProc([{ pid: 11, nvidia: true }]);
    const driver = new GpuDriverDouble({
      driverLoaded: true,
      loadError: '',
      driverVersion: 12020,
      checkpointApi: false,
      initError: '',
      devices: [],
    });
    const err = (await make(driver)
      .beforeDump([11])
      .catch((e: unknown) => e)) as AgentError;
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain('CUDA 12.2 (12020)');
    expect(err.message).toContain('550');
  });

  test('Lock timeout: ABORTED, and the processes already locked are unlocked (nothing changed)', async () => {
    await fakeProc([
      { pid: 11, nvidia: true },
      { pid: 12, nvidia: true },
    ]);
    const driver = new GpuDriverDouble().addProcess(11).addProcess(12).failOn('lock', { pid: 12, timeout: true });
    const err = (await make(driver)
      .beforeDump([11, 12])
      .catch((e: unknown) => e)) as AgentError;
    expect(err.kind).toBe('aborted');
    expect(err.message).toMatch(/within 5000 ms.*nothing was changed/);
    expect(driver.trace).toEqual(['lock:11', 'lock:12', 'unlock:11']);
    expect(driver.states.get(11)).toBe('running');
    expect(driver.states.get(12)).toBe('running');
  });

  test('Checkpoint fails for one process: the others are restored, all unlocked, INTERNAL returned', async () => {
    await fakeProc([
      { pid: 11, nvidia: true },
      { pid: 12, nvidia: true },
    ]);
    const driver = new GpuDriverDouble().addProcess(11).addProcess(12).failOn('checkpoint', { pid: 12 });
    const err = (await make(driver)
      .beforeDump([11, 12])
      .catch((e: unknown) => e)) as AgentError;
    expect(err.kind).toBe('internal');
    expect(err.message).toMatch(/every process got its GPU state back/);
    expect(driver.trace).toEqual(['lock:11', 'lock:12', 'checkpoint:11', 'checkpoint:12', 'restore:11', 'unlock:11', 'unlock:12']);
    expect([...driver.states.values()]).toEqual(['running', 'running']);
  });

  test('an unwind that itself fails is reported, not hidden', async () => {
    await fakeProc([
      { pid: 11, nvidia: true },
      { pid: 12, nvidia: true },
    ]);
    const driver = new GpuDriverDouble().addProcess(11).addProcess(12).failOn('checkpoint', { pid: 12 }).failOn('restore', { pid: 11 });
    const err = (await make(driver)
      .beforeDump([11, 12])
      .catch((e: unknown) => e)) as AgentError;
    expect(err.message).toMatch(/undoing it also failed: .*Restore\(11\)/);
    // 11 stays checkpointed (Unlock would be refused); 12 is unlocked.
    expect(driver.trace.slice(-2)).toEqual(['restore:11', 'unlock:12']);
  });

  test('a process already locked or checkpointed by someone else is left alone', async () => {
    await fakeProc([
      { pid: 11, nvidia: true },
      { pid: 12, nvidia: true },
    ]);
    const driver = new GpuDriverDouble().addProcess(11, 'locked').addProcess(12);
    const dump = await make(driver).beforeDump([11, 12]);
    expect(dump?.pids).toEqual([12]);
    expect(driver.trace).toEqual(['lock:12', 'checkpoint:12']);
  });
});

describe('GpuDump.afterDump / abort by final state', () => {
  async function dumped(): Promise<{
    driver: GpuDriverDouble;
    cp: GpuCheckpointer;
    dump: NonNullable<Awaited<ReturnType<GpuCheckpointer['beforeDump']>>>;
  }> {
    await fakeProc([
      { pid: 11, nvidia: true },
      { pid: 12, nvidia: true },
    ]);
    const driver = new GpuDriverDouble().addProcess(11).addProcess(12);
    const rss = new Map([[11, 1000]]);
    const cp = make(driver, rss);
    const residentBefore = rss;
    const dump = await cp.beforeDump([11, 12]);
    residentBefore.set(11, 1000);
    if (!dump) throw new Error('no dump');
    return { driver, cp, dump };
  }

  test('DEAD: nothing after CRIU', async () => {
    const { driver, dump } = await dumped();
    const before = driver.calls.length;
    const report = await dump.afterDump('DEAD');
    expect(driver.calls.length).toBe(before);
    expect(report.map((r) => r.pid)).toEqual([11, 12]);
    expect(report[0]?.lockMs).toBeGreaterThan(0);
    expect(report[0]?.checkpointMs).toBeGreaterThan(0);
    expect(report[0]?.restoreMs).toBe(0);
  });

  test('RUNNING: Restore then Unlock for every process; timings reported', async () => {
    const { driver, dump } = await dumped();
    const report = await dump.afterDump('RUNNING');
    expect(driver.trace.slice(4)).toEqual(['restore:11', 'restore:12', 'unlock:11', 'unlock:12']);
    expect([...driver.states.values()]).toEqual(['running', 'running']);
    expect(report.every((r) => r.restoreMs > 0 && r.unlockMs > 0)).toBe(true);
  });

  test('RUNNING whose Restore fails: an error saying the checkpoint is complete; the other process still gets its GPU back', async () => {
    const { driver, dump } = await dumped();
    driver.failOn('restore', { pid: 12 });
    await expect(dump.afterDump('RUNNING')).rejects.toThrow(/checkpoint is complete, but giving the tree its GPU state back failed/);
    expect(driver.states.get(11)).toBe('running');
  });

  test('STOPPED: GPU state stays parked; resumeParked (what Continue does after SIGCONT) gives it back', async () => {
    const { driver, cp, dump } = await dumped();
    await dump.afterDump('STOPPED');
    expect(driver.trace).toEqual(['lock:11', 'lock:12', 'checkpoint:11', 'checkpoint:12']);
    expect(driver.states.get(11)).toBe('checkpointed');
    // After Checkpoint no /dev/nvidia* fd is left: resumeParked must ask the driver about every pid.
    await rm(path.join(procRoot, '11', 'fd', '5'));
    const report = await cp.resumeParked([10, 11, 12]);
    expect(report.map((r) => r.pid)).toEqual([11, 12]);
    expect([...driver.states.values()]).toEqual(['running', 'running']);
  });

  test('CRIU failed: abort restores and unlocks every process', async () => {
    const { driver, dump } = await dumped();
    expect(await dump.abort()).toEqual([]);
    expect([...driver.states.values()]).toEqual(['running', 'running']);
    expect(await dump.abort()).toEqual([]); // idempotent
    expect(driver.trace.filter((t) => t.startsWith('restore')).length).toBe(2);
  });
});

describe('GpuCheckpointer.resumeParked (Restore of a GPU tree, Continue)', () => {
  test('remaps GPUs when pairs are given; a process only locked is unlocked without Restore', async () => {
    const driver = new GpuDriverDouble().addProcess(20, 'checkpointed').addProcess(21, 'locked').addProcess(22, 'running');
    const pairs = [{ oldUuid: 'a'.repeat(32), newUuid: 'b'.repeat(32) }];
    await make(driver).resumeParked([20, 21, 22], pairs);
    expect(driver.trace).toEqual(['restore:20', 'unlock:20', 'unlock:21']);
    expect(driver.calls[0]?.pairs).toEqual(pairs);
  });

  test('no driver on this node: nothing to give back, no error (a CPU tree)', async () => {
    const driver = new GpuDriverDouble({
      driverLoaded: false,
      loadError: 'x',
      driverVersion: 0,
      checkpointApi: false,
      initError: '',
      devices: [],
    });
    await expect(make(driver).resumeParked([1, 2])).resolves.toEqual([]);
  });

  test('a failure is an error after every process was tried', async () => {
    const driver = new GpuDriverDouble().addProcess(20, 'checkpointed').addProcess(21, 'checkpointed').failOn('restore', { pid: 20 });
    await expect(make(driver).resumeParked([20, 21])).rejects.toThrow(/Restore\(20\)/);
    expect(driver.states.get(21)).toBe('running');
  });

  test('checkpoint bytes are the growth of resident memory across Checkpoint', async () => {
    await fakeProc([{ pid: 11, nvidia: true }]);
    const driver = new GpuDriverDouble().addProcess(11);
    const rss = new Map([[11, 100]]);
    const orig = driver.checkpoint.bind(driver);
    driver.checkpoint = async (pid) => {
      await orig(pid);
      rss.set(pid, 100 + (256 << 20));
    };
    const dump = await make(driver, rss).beforeDump([11]);
    expect(dump?.report()[0]?.checkpointBytes).toBe(256 << 20);
  });
});

describe('Check: GPU facts', () => {
  const check = (driver: GpuDriverDouble): ReturnType<CheckService['gpu']> =>
    new CheckService({ gpu: new GpuCheckpointer(driver, { lockTimeoutMs: 1 }) } as unknown as ServiceContext).gpu();

  test('a node with the API: driver version, GPUs, no reason', () => {
    expect(check(new GpuDriverDouble())).toEqual({
      driverLoaded: true,
      driverVersion: '12.8',
      checkpointApi: true,
      unavailableReason: '',
      gpus: [{ index: 0, name: 'Double GPU', uuid: '00112233445566778899aabbccddeeff', totalBytes: 80 * 2 ** 30 }],
    });
  });

  test('no driver, old driver, cuInit failing: each says why', () => {
    const base = { driverLoaded: true, loadError: '', driverVersion: 12020, checkpointApi: false, initError: '', devices: [] };
    expect(
      check(
        new GpuDriverDouble({ ...base, driverLoaded: false, driverVersion: 0, loadError: 'libcuda.so.1: cannot open shared object file' }),
      ),
    ).toMatchObject({
      driverVersion: 'none',
      unavailableReason: 'no NVIDIA driver (libcuda.so.1 not found: libcuda.so.1: cannot open shared object file)',
    });
    expect(check(new GpuDriverDouble(base)).unavailableReason).toMatch(/CUDA 12.2 lacks cuCheckpointProcess\*/);
    expect(check(new GpuDriverDouble({ ...base, driverVersion: 12080, initError: 'CUDA_ERROR_NO_DEVICE' })).unavailableReason).toBe(
      'cuInit failed: CUDA_ERROR_NO_DEVICE',
    );
  });
});

describe('test-only GPU fault (CRIU_AGENT_TEST_GPU_FAULT)', () => {
  test('after-checkpoint: the real Checkpoint happens, then the call fails; beforeDump unwinds it', async () => {
    await fakeProc([{ pid: 11, nvidia: true }]);
    const inner = new GpuDriverDouble().addProcess(11);
    const driver = withTestFault(inner, 'after-checkpoint');
    const cp = new GpuCheckpointer(driver, { lockTimeoutMs: 1, procRoot, residentBytes: () => Promise.resolve(0) });
    await expect(cp.beforeDump([11])).rejects.toThrow(/injected failure after cuCheckpointProcessCheckpoint\(11\)/);
    expect(inner.trace).toEqual(['lock:11', 'checkpoint:11', 'restore:11', 'unlock:11']);
    expect(inner.getState(11)).toBe('running');
  });

  test('unset is the driver itself; an unknown value is refused', () => {
    const inner = new GpuDriverDouble();
    expect(withTestFault(inner, undefined)).toBe(inner);
    expect(() => withTestFault(inner, 'after-lock')).toThrow(/only fault is after-checkpoint/);
  });
});
