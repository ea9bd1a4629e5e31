import { CheckService } from './check';
import { CheckpointsService } from './checkpoints';
import { ServiceContext, type ServiceDeps } from './context';
import { ContinueService } from './continue';
import { DumpService } from './dump';
import { RestoreService } from './restore';

export type { ServiceDeps } from './context';
export type { DumpParams, DumpResult } from './dump';
export type { RestoreParams, RestoreResult } from './restore';
export type { CheckResult } from './check';
export type { CheckpointInfo } from './checkpoints';
export type { GpuProcessReport } from './gpu';

/** One object per capability, sharing locks and CRIU facts. */
export interface Services {
  dump: DumpService;
  restore: RestoreService;
  continue: ContinueService;
  check: CheckService;
  checkpoints: CheckpointsService;
}

export function createServices(deps: ServiceDeps): Services {
  const ctx = new ServiceContext(deps);
  return {
    dump: new DumpService(ctx),
    restore: new RestoreService(ctx),
    continue: new ContinueService(ctx),
    check: new CheckService(ctx),
    checkpoints: new CheckpointsService(ctx),
  };
}
