/**
 * grpc.health.v1 follows CRIU: SERVING ('' and criu_agent.v1.CheckpointAgent)
 * once CRIU answers, NOT_SERVING when it does not, with the agent started and
 * listening either way.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { call, startAgent, type AgentProcess } from '../helpers/agent';

jest.setTimeout(60_000);

const AGENT_SERVICE = 'criu_agent.v1.CheckpointAgent';
const healthDef = protoLoader.loadSync(healthProtoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const HealthClient = grpc.makeGenericClientConstructor(healthDef['grpc.health.v1.Health'] as grpc.ServiceDefinition, 'Health');

type Status = { status: string };
interface Health {
  Check(req: { service: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Status) => void): void;
  List(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { statuses: Record<string, Status> }) => void): void;
  Watch(req: { service: string }): grpc.ClientReadableStream<Status>;
}

const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 10_000 });

function check(h: Health, service: string): Promise<string> {
  return new Promise((resolve, reject) => h.Check({ service }, deadline(), (err, res) => (err ? reject(err) : resolve(res?.status ?? ''))));
}

function list(h: Health): Promise<Record<string, string>> {
  return new Promise((resolve, reject) =>
    h.List({}, deadline(), (err, res) => (err ? reject(err) : resolve(Object.fromEntries(Object.entries(res?.statuses ?? {}).map(([k, v]) => [k, v.status]))))),
  );
}

async function firstWatched(h: Health, service: string): Promise<string> {
  const stream = h.Watch({ service });
  stream.on('error', () => undefined); // ends with CANCELLED below
  try {
    return await new Promise<string>((resolve) => stream.once('data', (s: Status) => resolve(s.status)));
  } finally {
    stream.cancel();
  }
}

/** The agent logs "criu-agent listening" before its first CRIU probe ends; health is settled after it. */
async function probed(agent: AgentProcess): Promise<void> {
  const started = Date.now();
  while (!/CRIU answers|CRIU does not answer/.test(agent.output())) {
    if (Date.now() - started > 20_000) throw new Error(`no CRIU probe result within 20 s:\n${agent.output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.each([
  { name: 'without CRIU (--criu-path /nonexistent/criu)', args: ['--criu-path', '/nonexistent/criu'], want: 'NOT_SERVING' },
  { name: 'with the real CRIU', args: [], want: 'SERVING' },
])('health $name', ({ args, want }) => {
  let agent: AgentProcess;
  let health: Health & grpc.Client;

  beforeAll(async () => {
    agent = await startAgent({ args }); // throws unless the agent starts and listens
    await probed(agent);
    health = new HealthClient(`unix:${agent.socket}`, grpc.credentials.createInsecure()) as unknown as Health & grpc.Client;
  });

  afterAll(async () => {
    health?.close();
    await agent?.dispose();
  });

  it(`Check answers ${want} for the server and the agent service`, async () => {
    expect(await check(health, '')).toBe(want);
    expect(await check(health, AGENT_SERVICE)).toBe(want);
  });

  it(`List and Watch say ${want}`, async () => {
    expect(await list(health)).toEqual({ '': want, [AGENT_SERVICE]: want });
    expect(await firstWatched(health, AGENT_SERVICE)).toBe(want);
  });

  it('NOT_FOUND for a service it does not know', async () => {
    await expect(check(health, 'no.such.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('the agent serves calls', async () => {
    // Request validation does not need CRIU.
    await expect(call(agent.client, 'Continue', { pid: 0 })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const checked = call<{ criu_version: string }>(agent.client, 'Check', {});
    if (want === 'SERVING') await expect(checked).resolves.toMatchObject({ criu_version: expect.stringMatching(/^\d+\.\d+/) as unknown });
    else await expect(checked).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});
