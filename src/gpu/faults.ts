import type { GpuDriver, GpuPair, GpuProbe, GpuProcessState } from './driver';

/**
 * TEST ONLY (like CRIU_AGENT_TEST_FAULTS in criu/faults.ts): `after-checkpoint`
 * makes every Checkpoint fail right after the driver completed it, so that
 * test:gpu can check on a real GPU that the unwind (Restore + Unlock) leaves
 * the workload running with its data. Never set it on a real node.
 */
export const TEST_GPU_FAULT_ENV = 'CRIU_AGENT_TEST_GPU_FAULT';

/** A driver that fails after a real Checkpoint; see {@link TEST_GPU_FAULT_ENV}. */
export class FailAfterCheckpoint implements GpuDriver {
  constructor(private readonly inner: GpuDriver) {}

  probe(): GpuProbe {
    return this.inner.probe();
  }
  getState(pid: number): GpuProcessState {
    return this.inner.getState(pid);
  }
  lock(pid: number, timeoutMs: number): Promise<void> {
    return this.inner.lock(pid, timeoutMs);
  }
  async checkpoint(pid: number): Promise<void> {
    await this.inner.checkpoint(pid);
    throw new Error(`injected failure after cuCheckpointProcessCheckpoint(${pid}) (${TEST_GPU_FAULT_ENV})`);
  }
  restore(pid: number, pairs?: GpuPair[]): Promise<void> {
    return this.inner.restore(pid, pairs);
  }
  unlock(pid: number): Promise<void> {
    return this.inner.unlock(pid);
  }
}

/** The driver the environment asks for: `inner`, or `inner` behind a test fault. Throws on an unknown value. */
export function withTestFault(inner: GpuDriver, spec: string | undefined): GpuDriver {
  if (!spec) return inner;
  if (spec === 'after-checkpoint') return new FailAfterCheckpoint(inner);
  throw new Error(`${TEST_GPU_FAULT_ENV}=${spec}: the only fault is after-checkpoint`);
}
