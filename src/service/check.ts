import type { ServiceContext } from './context';

export interface CheckResult {
  criuVersion: string;
  criuTransport: string;
  kernel: string;
  memTrack: boolean;
  lazyPages: boolean;
  pidfdStore: boolean;
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
    };
  }
}
