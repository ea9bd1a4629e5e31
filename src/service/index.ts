import { CheckService } from './check';
import { CheckpointsService } from './checkpoints';
import { ServiceContext, type ServiceDeps } from './context';
import { ContinueService } from './continue';
import { DumpService } from './dump';
import { RestoreService } from './restore';
import { HttpRegistryClient } from '../registry/client';
import { RegistryService } from './registry';
import { transferStream } from './stream';
import { TransferService } from './transfer';

export type { ServiceDeps } from './context';
export type { DumpParams, DumpResult } from './dump';
export type { RestoreParams, RestoreResult } from './restore';
export type { CheckResult } from './check';
export type { CheckpointInfo } from './checkpoints';
export type { PullResult, PushResult } from './registry';
export type { GpuProcessReport } from './gpu';

/** One object per capability, sharing locks and CRIU facts. */
export interface Services {
  dump: DumpService;
  restore: RestoreService;
  continue: ContinueService;
  check: CheckService;
  checkpoints: CheckpointsService;
  transfer: TransferService;
  registry: RegistryService;
}

export function createServices(deps: ServiceDeps): Services {
  const ctx = new ServiceContext(deps);
  const transfer = new TransferService(ctx);
  const registry = deps.registry ?? new HttpRegistryClient(deps.config.registry ?? { insecure: [], caFiles: {} });
  return {
    dump: new DumpService(ctx),
    restore: new RestoreService(ctx),
    continue: new ContinueService(ctx),
    check: new CheckService(ctx),
    checkpoints: new CheckpointsService(ctx),
    transfer,
    registry: new RegistryService(ctx, registry, transferStream(deps.store, transfer)),
  };
}
