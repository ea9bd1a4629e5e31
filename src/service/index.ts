import { AgentError } from '../errors';
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
import { MigrateService } from './migrate';
import { MigrationTargetService } from './migrate-target';
import type { PeerConnector } from './peer';
import type { CriuMigration } from '../criu/client';
import type { Logger } from '../log';

export type { ServiceDeps } from './context';
export type { DumpParams, DumpResult } from './dump';
export type { RestoreParams, RestoreResult } from './restore';
export type { CheckResult } from './check';
export type { CheckpointInfo } from './checkpoints';
export type { PullResult, PushResult } from './registry';
export type { GpuProcessReport } from './gpu';
export type { MigrateParams, MigrateEvent, MigrateResult } from './migrate';
export type { PeerConnector, PeerSession } from './peer';

/** One object per capability, sharing locks and CRIU facts. */
export interface Services {
  dump: DumpService;
  restore: RestoreService;
  continue: ContinueService;
  check: CheckService;
  checkpoints: CheckpointsService;
  transfer: TransferService;
  registry: RegistryService;
  migrate: MigrateService;
  migrationTarget: MigrationTargetService;
}

/** What Migrate and ReceiveMigration need besides ServiceDeps: CRIU's cpuinfo and page server, and a way to reach other agents. */
export interface MigrationDeps {
  criu: CriuMigration;
  peers: PeerConnector;
  log?: Logger;
}

/** Refuses what needs a CRIU or peers this agent was built without (unit tests' fakes). */
const NO_MIGRATION: MigrationDeps = {
  criu: {
    cpuinfoDump: () => Promise.reject(new AgentError('failed-precondition', 'this agent was built without migration support')),
    cpuinfoCheck: () => Promise.reject(new AgentError('failed-precondition', 'this agent was built without migration support')),
    pageServer: () => Promise.reject(new AgentError('failed-precondition', 'this agent was built without migration support')),
  },
  peers: {
    open: () => {
      throw new AgentError('failed-precondition', 'this agent was built without migration support');
    },
  },
};

export function createServices(deps: ServiceDeps, migration: MigrationDeps = NO_MIGRATION): Services {
  const ctx = new ServiceContext(deps);
  const transfer = new TransferService(ctx);
  const registry = deps.registry ?? new HttpRegistryClient(deps.config.registry ?? { insecure: [], caFiles: {} });
  const dump = new DumpService(ctx);
  const restore = new RestoreService(ctx);
  const cont = new ContinueService(ctx);
  return {
    dump,
    restore,
    continue: cont,
    migrate: new MigrateService(ctx, dump, migration.criu, migration.peers),
    migrationTarget: new MigrationTargetService(ctx, migration.criu, restore, cont, migration.log),
    check: new CheckService(ctx),
    checkpoints: new CheckpointsService(ctx),
    transfer,
    registry: new RegistryService(ctx, registry, transferStream(deps.store, transfer)),
  };
}
