/** Migrate for tests: the call with its events, and a look into a destination agent's namespaces. */
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import type { CheckpointAgentClient } from '../../src/generated/criu_agent/v1/CheckpointAgent';
import type { ListCheckpointsResponse__Output } from '../../src/generated/criu_agent/v1/ListCheckpointsResponse';
import type { MigrateEvent__Output } from '../../src/generated/criu_agent/v1/MigrateEvent';
import { call, type AgentProcess } from './agent';
import type { TargetState } from './target';

export interface MigrateOutcome {
  events: MigrateEvent__Output[];
  error?: grpc.ServiceError;
}

/** Runs Migrate on `client` (the source); with cancelAt, cancels the call when that step's event arrives. Never rejects. */
export function migrateEvents(
  client: CheckpointAgentClient,
  req: object,
  opts: { cancelAt?: string; onEvent?: (e: MigrateEvent__Output) => void; deadlineMs?: number } = {},
): Promise<MigrateOutcome> {
  return new Promise((resolve) => {
    const events: MigrateEvent__Output[] = [];
    const c = client.Migrate(req, opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {});
    c.on('data', (e: MigrateEvent__Output) => {
      events.push(e);
      opts.onEvent?.(e);
      if (opts.cancelAt && e.step === opts.cancelAt) c.cancel();
    });
    c.on('error', (error: grpc.ServiceError) => resolve({ events, error }));
    c.on('end', () => resolve({ events }));
  });
}

/** The ids an agent lists. */
export async function listedIds(agent: AgentProcess): Promise<string[]> {
  return (await call<ListCheckpointsResponse__Output>(agent.client, 'ListCheckpoints', {})).checkpoints.map((c) => c.checkpoint_id);
}

/** Runs a command in the network, pid and mount namespaces of `agent` (a destination started namespaced). */
export function inNamespacesOf(agent: AgentProcess, cmd: string[], input?: string): string {
  return execFileSync('nsenter', ['-t', String(agent.pid), '-n', '-p', '-m', '--', ...cmd], { encoding: 'utf8', input, timeout: 10_000 });
}

/** A target's answer, asked inside the network namespace of `agent`. */
export function queryInNamespacesOf(agent: AgentProcess, port: number): TargetState {
  const py = `import socket;s=socket.create_connection(('127.0.0.1',${port}),5);print(s.makefile().readline(),end='')`;
  return JSON.parse(inNamespacesOf(agent, ['python3', '-c', py])) as TargetState;
}
