import { formatDriverVersion, type GpuDevice } from '../gpu';
import type { ServiceContext } from './context';

export interface GpuCheckResult {
  driverLoaded: boolean;
  driverVersion: string;
  checkpointApi: boolean;
  unavailableReason: string;
  gpus: GpuDevice[];
}

export interface CheckResult {
  criuVersion: string;
  criuTransport: string;
  kernel: string;
  memTrack: boolean;
  lazyPages: boolean;
  pidfdStore: boolean;
  gpu: GpuCheckResult;
}

/** Check: what CRIU and the kernel can do, asked of CRIU afresh each time. */
export class CheckService {
  constructor(private readonly ctx: ServiceContext) {}

  /** How the agent reaches CRIU. */
  get description(): string {
    return this.ctx.criu.description;
  }

  async check(signal?: AbortSignal): Promise<CheckResult> {
    const version = await this.ctx.criu.version(signal);
    const features = await this.ctx.criu.features(signal);
    return {
      criuVersion: version.text,
      criuTransport: this.ctx.criu.description,
      kernel: this.ctx.kernel,
      ...features,
      gpu: this.gpu(),
    };
  }

  /** NVIDIA's driver and its checkpoint API on this node (never fails: no driver is an answer). */
  gpu(): GpuCheckResult {
    const p = this.ctx.gpu.driver.probe();
    let unavailableReason = '';
    if (!p.driverLoaded) unavailableReason = `no NVIDIA driver (libcuda.so.1 not found: ${p.loadError})`;
    else if (p.initError) unavailableReason = `cuInit failed: ${p.initError}`;
    else if (!p.checkpointApi)
      unavailableReason = `driver with CUDA ${formatDriverVersion(p.driverVersion)} lacks cuCheckpointProcess* (driver 550 or later has them)`;
    return {
      driverLoaded: p.driverLoaded,
      driverVersion: formatDriverVersion(p.driverVersion),
      checkpointApi: p.checkpointApi,
      unavailableReason,
      gpus: p.devices,
    };
  }
}
