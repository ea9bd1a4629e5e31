import * as path from 'node:path';
import { ConfigError, type AgentConfig } from './config';
import { RpcCriuClient, type CriuClient } from './criu/client';
import { parseFaults, TEST_FAULTS_ENV } from './criu/faults';
import { CudaDriver } from './gpu';
import { TEST_GPU_FAULT_ENV, withTestFault } from './gpu/faults';
import { ServiceSocketLauncher, SwrkLauncher } from './criu/transport';
import type { Logger } from './log';
import { startServer, type RunningServer } from './server/server';
import { createServices } from './service';
import { CheckpointStore, lockStateDir, StateDirBusyError } from './store';
import { recoverEarlierRun } from './service/recovery';
import { GrpcPeerConnector } from './peer/grpc';
import type { CriuMigration } from './criu/client';

/** The CRIU client the config asks for: a `criu swrk` child per operation, or a `criu service` socket. */
export function criuClientFor(config: AgentConfig): RpcCriuClient {
  // Test-only fault hooks (see criu/faults.ts); unset on real nodes.
  const faults = parseFaults(process.env[TEST_FAULTS_ENV]);
  if (config.criuSocket) {
    return new RpcCriuClient(new ServiceSocketLauncher({ socketPath: config.criuSocket }), `criu service (${config.criuSocket})`, faults);
  }
  const owner = path.resolve(config.stateDir);
  return new RpcCriuClient(new SwrkLauncher({ criuPath: config.criuPath, owner }), `criu swrk (${config.criuPath})`, faults);
}

/** Builds the agent from its config and starts serving. */
export async function startAgent(config: AgentConfig, log: Logger, criu: CriuClient = criuClientFor(config)): Promise<RunningServer> {
  try {
    lockStateDir(config.stateDir);
  } catch (err) {
    // A configuration error (exit status 2): a restart would not fix it.
    if (err instanceof StateDirBusyError) throw new ConfigError(err.message);
    throw err;
  }
  const recovery = await recoverEarlierRun(config.stateDir, log);
  const store = await CheckpointStore.open(config.stateDir, { busy: recovery.busy });
  const recovered = recovery.done.then((dirs) => store.sweepTemporary(dirs)).catch((err: unknown) => {
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not remove the directories of an earlier run');
  });
  // Test-only GPU fault (see gpu/faults.ts); unset on real nodes.
  const gpu = withTestFault(new CudaDriver(), process.env[TEST_GPU_FAULT_ENV]);
  const migration = isMigrationCapable(criu) ? { criu, peers: new GrpcPeerConnector(config.peerTls), log } : undefined;
  const services = createServices({ config, criu, store, gpu, recovered }, migration);
  await services.continue.forgetStale();
  void recovered.then(async () => {
    try {
      for (const line of await services.migrate.resumeInterrupted()) log.warn({ migration: line }, 'an earlier run of this agent was killed in the middle of a migration');
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not resume the trees of migrations an earlier run left');
    }
  });
  return startServer(config, services, log);
}

function isMigrationCapable(c: CriuClient): c is CriuClient & CriuMigration {
  return typeof (c as Partial<CriuMigration>).pageServer === 'function';
}
