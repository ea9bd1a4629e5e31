import {
  CUDA_ERROR_TIMEOUT,
  GpuCallError,
  type GpuDriver,
  type GpuPair,
  type GpuProbe,
  type GpuProcessState,
  type GpuStep,
} from './driver';

/** One recorded driver call. */
export interface GpuCall {
  step: GpuStep;
  pid: number;
  timeoutMs?: number;
  pairs?: GpuPair[];
}

/**
 * A GpuDriver that keeps each process's CUprocessState as the real driver
 * would (running -> locked -> checkpointed -> locked -> running), records
 * every call, and fails any step on request. Calls that the real driver
 * refuses for the state (e.g. Checkpoint of a running process) fail here too,
 * so ordering bugs show up in unit tests.
 */
export class GpuDriverDouble implements GpuDriver {
  readonly calls: GpuCall[] = [];
  readonly states = new Map<number, GpuProcessState>();
  /** Bytes each process holds on its GPUs (moved to host by checkpoint). */
  readonly gpuBytes = new Map<number, number>();
  private readonly failures: { step: GpuStep; pid?: number; timeout: boolean; remaining: number }[] = [];

  constructor(
    private readonly probeResult: GpuProbe = {
      driverLoaded: true,
      loadError: '',
      driverVersion: 12080,
      checkpointApi: true,
      initError: '',
      devices: [{ index: 0, name: 'Double GPU', uuid: '00112233445566778899aabbccddeeff', totalBytes: 80 * 2 ** 30 }],
    },
  ) {}

  /** Registers pid as a CUDA process in `state`. */
  addProcess(pid: number, state: GpuProcessState = 'running', bytes = 256 << 20): this {
    this.states.set(pid, state);
    this.gpuBytes.set(pid, bytes);
    return this;
  }

  /** Makes the next `times` calls of `step` (for `pid`, or any pid) fail; `timeout` fails like an expired Lock. */
  failOn(step: GpuStep, opts: { pid?: number; timeout?: boolean; times?: number } = {}): this {
    this.failures.push({ step, pid: opts.pid, timeout: opts.timeout ?? false, remaining: opts.times ?? 1 });
    return this;
  }

  probe(): GpuProbe {
    return this.probeResult;
  }

  getState(pid: number): GpuProcessState {
    const s = this.states.get(pid);
    if (s === undefined) throw new GpuCallError('getState', pid, 500, 'CUDA_ERROR_NOT_FOUND');
    return s;
  }

  lock(pid: number, timeoutMs: number): Promise<void> {
    return this.step({ step: 'lock', pid, timeoutMs }, 'running', 'locked');
  }

  checkpoint(pid: number): Promise<void> {
    return this.step({ step: 'checkpoint', pid }, 'locked', 'checkpointed');
  }

  restore(pid: number, pairs?: GpuPair[]): Promise<void> {
    return this.step(pairs ? { step: 'restore', pid, pairs } : { step: 'restore', pid }, 'checkpointed', 'locked');
  }

  unlock(pid: number): Promise<void> {
    return this.step({ step: 'unlock', pid }, 'locked', 'running');
  }

  /** The steps recorded, as "step:pid" strings, for compact assertions. */
  get trace(): string[] {
    return this.calls.map((c) => `${c.step}:${c.pid}`);
  }

  private async step(call: GpuCall, from: GpuProcessState, to: GpuProcessState): Promise<void> {
    await Promise.resolve();
    this.calls.push(call);
    const f = this.failures.find((x) => x.step === call.step && x.remaining > 0 && (x.pid === undefined || x.pid === call.pid));
    if (f) {
      f.remaining--;
      if (f.timeout) throw new GpuCallError(call.step, call.pid, CUDA_ERROR_TIMEOUT, 'CUDA_ERROR_TIMEOUT');
      throw new GpuCallError(call.step, call.pid, 999, 'CUDA_ERROR_UNKNOWN');
    }
    const s = this.states.get(call.pid);
    if (s === undefined) throw new GpuCallError(call.step, call.pid, 500, 'CUDA_ERROR_NOT_FOUND');
    if (s !== from) throw new GpuCallError(call.step, call.pid, 3, `CUDA_ERROR_ILLEGAL_STATE (${s})`);
    this.states.set(call.pid, to);
  }
}
