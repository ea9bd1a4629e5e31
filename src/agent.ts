import type { AgentConfig } from './config';
import { RpcCriuClient, type CriuClient } from './criu/client';
import { ServiceSocketLauncher, SwrkLauncher } from './criu/transport';
import type { Logger } from './log';
import { startServer, type RunningServer } from './server/server';
import { createServices } from './service';
import { CheckpointStore } from './store';
import { GrpcPeerConnector } from './peer/grpc';
import type { CriuMigration } from './criu/client';

/** The CRIU client the config asks for: a `criu swrk` child per operation, or a `criu service` socket. */
export function criuClientFor(config: AgentConfig): RpcCriuClient {
  if (config.criuSocket) {
    return new RpcCriuClient(new ServiceSocketLauncher({ socketPath: config.criuSocket }), `criu service (${config.criuSocket})`);
  }
  return new RpcCriuClient(new SwrkLauncher({ criuPath: config.criuPath }), `criu swrk (${config.criuPath})`);
}

/** Builds the agent from its config and starts serving. */
export async function startAgent(config: AgentConfig, log: Logger, criu: CriuClient = criuClientFor(config)): Promise<RunningServer> {
  const store = await CheckpointStore.open(config.stateDir);
  const migration = isMigrationCapable(criu) ? { criu, peers: new GrpcPeerConnector(), log } : undefined;
  const services = createServices({ config, criu, store }, migration);
  await services.continue.forgetStale();
  return startServer(config, services, log);
}

function isMigrationCapable(c: CriuClient): c is CriuClient & CriuMigration {
  return typeof (c as Partial<CriuMigration>).pageServer === 'function';
}
