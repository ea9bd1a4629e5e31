/**
 * The GPU driver seam: everything the agent asks of NVIDIA's CUDA checkpoint
 * API (driver 550+), behind one interface that services receive by
 * constructor. The real implementation (./cuda.ts) loads libcuda.so.1 at run
 * time; unit tests pass a double (./double.ts) that records calls and can
 * fail any step.
 */

/** CUprocessState of cuda.h, as a string. */
export type GpuProcessState = 'running' | 'locked' | 'checkpointed' | 'failed';

/** One GPU as the driver lists it. */
export interface GpuDevice {
  index: number;
  name: string;
  /** 32 hex digits (the UUID nvidia-smi prints as GPU-xxxxxxxx-...). */
  uuid: string;
  totalBytes: number;
}

/** What the driver on this node can do; see {@link GpuDriver.probe}. */
export interface GpuProbe {
  /** libcuda.so.1 could be loaded. */
  driverLoaded: boolean;
  /** Why not, when it could not (dlopen's message). */
  loadError: string;
  /** cuDriverGetVersion, e.g. 12080 for CUDA 12.8; 0 when no driver. */
  driverVersion: number;
  /** All five cuCheckpointProcess* entry points exist and cuInit succeeded. */
  checkpointApi: boolean;
  /** cuInit's error name when it failed (e.g. CUDA_ERROR_NO_DEVICE). */
  initError: string;
  devices: GpuDevice[];
}

/** The four steps around CRIU, named as in cuda.h. */
export type GpuStep = 'lock' | 'checkpoint' | 'restore' | 'unlock';

/** A failed driver call; `code` is the CUresult, `errorName` what cuGetErrorName says. */
export class GpuCallError extends Error {
  constructor(
    readonly step: GpuStep | 'getState',
    readonly pid: number,
    readonly code: number,
    readonly errorName: string,
  ) {
    super(`cuCheckpointProcess${step[0]?.toUpperCase()}${step.slice(1)}(${pid}) failed: ${errorName} (${code})`);
    this.name = 'GpuCallError';
  }

  /** CUDA_ERROR_TIMEOUT: Lock's timeout ran out (the process is inside a long CUDA call). */
  get isTimeout(): boolean {
    return this.errorName === 'CUDA_ERROR_TIMEOUT' || this.code === CUDA_ERROR_TIMEOUT;
  }
}

/** cuda.h: CUDA_ERROR_TIMEOUT. */
export const CUDA_ERROR_TIMEOUT = 909;

/** Old GPU -> new GPU, for a restore on other GPUs of the same model. */
export interface GpuPair {
  oldUuid: string;
  newUuid: string;
}

export interface GpuDriver {
  /** Loads the driver (once) and says what it offers; never throws. */
  probe(): GpuProbe;
  /** CUprocessState of pid; GpuCallError when the driver does not know pid as a CUDA process. */
  getState(pid: number): GpuProcessState;
  /** Blocks new CUDA calls of pid and waits up to timeoutMs for running ones (0: forever). */
  lock(pid: number, timeoutMs: number): Promise<void>;
  /** Moves pid's GPU state into its host memory; pid must be locked. */
  checkpoint(pid: number): Promise<void>;
  /** Moves it back onto the GPUs (remapped by `pairs` when given); pid must be checkpointed. */
  restore(pid: number, pairs?: GpuPair[]): Promise<void>;
  /** Lets pid's CUDA calls run again; pid must be locked (not checkpointed). */
  unlock(pid: number): Promise<void>;
}

/** Maps cuda.h's CUprocessState values. */
export function processStateName(value: number): GpuProcessState {
  switch (value) {
    case 0:
      return 'running';
    case 1:
      return 'locked';
    case 2:
      return 'checkpointed';
    default:
      return 'failed';
  }
}

/** "12080" -> "12.8" (CUDA's encoding: 1000 * major + 10 * minor). */
export function formatDriverVersion(version: number): string {
  if (version <= 0) return 'none';
  return `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`;
}
