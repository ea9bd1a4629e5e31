import { loadAddon } from '../native/addon';
import { GpuCallError, processStateName, type GpuDriver, type GpuPair, type GpuProbe, type GpuProcessState, type GpuStep } from './driver';

/** The cuda* exports of the native addon (src/native/cuda.cc). */
export interface CudaAddon {
  cudaLoad(path?: string): { loaded: boolean; error: string; checkpointApi: boolean };
  cudaDriverVersion(): number;
  cudaInit(): string;
  cudaDevices(): { index: number; name: string; uuid: string; totalBytes: number }[];
  cudaGetState(pid: number): { code: number; error: string; state: number };
  cudaCall(op: GpuStep, pid: number, timeoutMs?: number, pairs?: [string, string][]): Promise<{ code: number; error: string }>;
}

/**
 * The real driver: libcuda.so.1 through the native addon. Loading happens on
 * the first probe(), so an agent on a node without NVIDIA's driver never
 * touches it unless a GPU question is asked.
 */
export class CudaDriver implements GpuDriver {
  private probed: GpuProbe | undefined;

  constructor(
    private readonly addon: () => CudaAddon = () => loadAddon() as unknown as CudaAddon,
    private readonly libraryPath = 'libcuda.so.1',
  ) {}

  probe(): GpuProbe {
    if (this.probed) return this.probed;
    const a = this.addon();
    const loaded = a.cudaLoad(this.libraryPath);
    if (!loaded.loaded) {
      this.probed = { driverLoaded: false, loadError: loaded.error, driverVersion: 0, checkpointApi: false, initError: '', devices: [] };
      return this.probed;
    }
    const driverVersion = a.cudaDriverVersion();
    const initError = a.cudaInit();
    this.probed = {
      driverLoaded: true,
      loadError: '',
      driverVersion,
      checkpointApi: loaded.checkpointApi && initError === '',
      initError,
      devices: initError === '' ? a.cudaDevices() : [],
    };
    return this.probed;
  }

  getState(pid: number): GpuProcessState {
    this.probe();
    const r = this.addon().cudaGetState(pid);
    if (r.code !== 0) throw new GpuCallError('getState', pid, r.code, r.error);
    return processStateName(r.state);
  }

  lock(pid: number, timeoutMs: number): Promise<void> {
    return this.call('lock', pid, timeoutMs);
  }

  checkpoint(pid: number): Promise<void> {
    return this.call('checkpoint', pid);
  }

  restore(pid: number, pairs?: GpuPair[]): Promise<void> {
    return this.call(
      'restore',
      pid,
      0,
      pairs?.map((p) => [p.oldUuid, p.newUuid]),
    );
  }

  unlock(pid: number): Promise<void> {
    return this.call('unlock', pid);
  }

  private async call(step: GpuStep, pid: number, timeoutMs = 0, pairs?: [string, string][]): Promise<void> {
    this.probe();
    const r = await this.addon().cudaCall(step, pid, timeoutMs, pairs);
    if (r.code !== 0) throw new GpuCallError(step, pid, r.code, r.error);
  }
}
