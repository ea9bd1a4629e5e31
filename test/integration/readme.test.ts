/**
 * Every grpcurl command of README.md, as printed, against a running agent:
 * each is parsed with grpcurl v1.9.3's command line (test/helpers/grpcurl.ts
 * refuses its broken -unix flag) and run the way grpcurl runs it, with its
 * output and exit codes, through server reflection with no .proto files, in
 * the README's order, on a real target tree with real CRIU. Only the socket (the agent's own, in a temp
 * folder), the pid (the target's, for 4242) and the mTLS example's address
 * and certificates (this test's), and the registry (a real one on loopback) are swapped in.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS } from '../../src/config';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { CertDir } from '../helpers/certs';
import { grpcurl, grpcurlCommands, parseGrpcurl, type GrpcurlResult, type ScriptCommand } from '../helpers/grpcurl';
import { startRegistry, type TestRegistry } from '../helpers/registry';
import { startTarget, type Target } from '../helpers/target';

jest.setTimeout(120_000);

const README = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
const README_PID = '4242';
const MTLS_ADDRESS = '10.0.0.7:50051';
const README_REGISTRY = 'registry.example:5000';
const DEFAULT_SOCKET = 'unix:///run/criu-agent/agent.sock';

let agent: AgentProcess;
let target: Target;
let certs: CertDir;
let registry: TestRegistry;

/** The README's commands with this test's socket, pid and registry (a real one on loopback). */
const commands = (): ScriptCommand[] =>
  grpcurlCommands(
    README.replaceAll(README_PID, String(target.pid))
      .replaceAll(DEFAULT_SOCKET, `unix://${agent.socket}`)
      .replaceAll(README_REGISTRY, registry.host),
    { S: `unix://${agent.socket}` },
  );

beforeAll(async () => {
  certs = new CertDir('criu-agent-readme-');
  certs.makeCa('ca');
  certs.makeCert('server', 'ca', 'node-7.example', 'DNS:node-7.example', 'serverAuth');
  certs.makeCert('controller', 'ca', 'controller', 'URI:spiffe://cluster/controller', 'clientAuth');
  // The README's file names.
  fs.copyFileSync(certs.path('ca.pem'), certs.path('ca.crt'));
  fs.copyFileSync(certs.path('controller.pem'), certs.path('controller.crt'));
  registry = await startRegistry();
  agent = await startAgent({
    args: [
      '--registry-insecure',
      registry.host,
      '--listen',
      '127.0.0.1:0',
      '--tls-cert',
      certs.path('server.pem'),
      '--tls-key',
      certs.path('server.key'),
      '--tls-client-ca',
      certs.path('ca.pem'),
    ],
  });
  target = await startTarget();
});

afterAll(async () => {
  await target?.kill();
  await agent?.dispose();
  await registry?.stop();
  certs?.remove();
});

it('has the grpcurl commands this test knows, none with -unix, all dialing the default socket or the mTLS example', () => {
  const printed = grpcurlCommands(README);
  expect(printed.length).toBeGreaterThanOrEqual(14);
  const defaultSocket = `unix://${DEFAULTS.listen.slice('unix:'.length)}`;
  expect(defaultSocket).toBe('unix:///run/criu-agent/agent.sock');
  for (const c of printed) {
    expect(c.args).not.toContain('-unix');
    expect([c.text, parseGrpcurl(c.args).address]).toEqual([
      c.text,
      expect.stringMatching(new RegExp(`^(${defaultSocket}|${MTLS_ADDRESS})$`)),
    ]);
  }
});

describe('the README grpcurl commands, in order', () => {
  const results: GrpcurlResult[] = [];
  /** Check's mem_track: whether PreDump can work on this kernel. */
  let softDirty = false;
  const printed = grpcurlCommands(README);

  it.each(printed.map((c, i): [number, string] => [i, c.text]))('%i: %s', async (i) => {
    const cmd = commands()[i];
    if (!cmd) throw new Error(`command ${i} is gone`);
    const call = parseGrpcurl(cmd.args);
    const res = await grpcurl(cmd.args, { cwd: certs.dir, dial: { [MTLS_ADDRESS]: agent.tcpAddress() } });
    results[i] = res;
    const body = (call.data === undefined ? {} : JSON.parse(call.data)) as { checkpoint_id?: string; final_state?: string };
    const method = call.verb === 'call' ? (call.symbol ?? '') : call.verb;
    const outcome = outcomeOf(res);
    const okay = { code: 'OK', message: undefined };
    /** The expected failure, or success where soft-dirty tracking lets PreDump work. */
    const failsWithoutSoftDirty = (code: string, message: RegExp): void => {
      if (softDirty) expect(outcome).toEqual(okay);
      else expect([outcome.code, message.test(outcome.message ?? '')]).toEqual([code, true]);
      if (!softDirty && !message.test(outcome.message ?? '')) throw new Error(`unexpected message: ${outcome.message}`);
    };

    if (method === 'list')
      expect(res.stdout.split('\n')).toEqual(expect.arrayContaining(['criu_agent.v1.CheckpointAgent', 'grpc.health.v1.Health']));
    else if (method === 'describe') {
      expect(res.stdout).toMatch(/^criu_agent\.v1\.DumpRequest is a message:\n/);
      expect(res.stdout).toMatch(/\n {2}\/\/ Root of the tree to checkpoint[^\n]*\n {2}int32 pid = 1;/);
    } else if (method.endsWith('/Check') && method.startsWith('criu_agent')) {
      expect(outcome).toEqual(okay);
      expect(res.json?.criuVersion).toMatch(/^\d+\.\d+/);
      softDirty = res.json?.memTrack === true;
    } else if (method.endsWith('/PreDump')) {
      // No soft-dirty tracking on this host: PreDump says so before CRIU runs.
      failsWithoutSoftDirty('FAILED_PRECONDITION', /soft-dirty|memory tracking/i);
    } else if (method.endsWith('/Dump') && body.checkpoint_id === 'web-3') {
      failsWithoutSoftDirty('NOT_FOUND', /web-pre-1/);
    } else if (method.endsWith('/DeleteCheckpoint') && body.checkpoint_id === 'web-pre-1') {
      failsWithoutSoftDirty('NOT_FOUND', /web-pre-1/);
    } else {
      expect(outcome).toEqual(okay);
      if (method.endsWith('/Dump')) {
        expect(res.json).toMatchObject({ checkpointId: body.checkpoint_id });
        // FINAL_STATE_RUNNING leaves the tree answering; the default kills it.
        if (body.final_state === 'FINAL_STATE_RUNNING') expect((await target.query()).pid).toBe(target.pid);
        else expect(fs.existsSync(`/proc/${target.pid}`)).toBe(false);
      }
      if (method.endsWith('/Restore')) expect(processState(target.pid)).toBe('T');
      if (method.endsWith('/Continue')) expect((await target.query()).pid).toBe(target.pid);
      if (method.endsWith('/ListCheckpoints')) {
        const ids = ((res.json?.checkpoints ?? []) as { checkpointId: string }[]).map((c) => c.checkpointId);
        expect(ids).toEqual(expect.arrayContaining(['web-1', 'web-2', ...(softDirty ? ['web-pre-1', 'web-3'] : [])]));
      }
      if (method.endsWith('/GetCheckpoint')) expect(res.json).toMatchObject({ checkpointId: body.checkpoint_id, pid: target.pid });
      if (method === 'grpc.health.v1.Health/Check') expect(res.json).toEqual({ status: 'SERVING' });
      if (method.endsWith('/PushCheckpoint')) {
        expect(res.json).toMatchObject({ digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) as unknown });
        expect(registry.blobs().length).toBeGreaterThan(0);
      }
    }
  });
});

/**
 * The gRPC status that grpcurl's exit code and stderr tell: 0 is OK, 64 +
 * the code a failed call with its message; any other exit is a failure of
 * the command itself, shown with what it printed.
 */
function outcomeOf(res: GrpcurlResult): { code: string; message?: string } {
  if (res.code === 0) return { code: 'OK', message: undefined };
  if (res.code >= 64)
    return { code: grpc.status[res.code - 64] ?? String(res.code), message: res.stderr.split('\n  Message: ')[1]?.replace(/\n$/, '') };
  return { code: `exit ${res.code}`, message: res.stderr };
}

/** The state letter of /proc/PID/stat ("R", "S", "T", ...). */
function processState(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
}

// The emulation is only as good as its JSON mapping: grpcurl takes proto
// and lowerCamelCase names and refuses unknown fields and enum values. After
// the README sequence above: web-2 is its checkpoint.
describe('the grpcurl emulation, on the same agent', () => {
  const run = (data: string, method: string): Promise<GrpcurlResult> =>
    grpcurl(['-plaintext', '-d', data, `unix://${agent.socket}`, `criu_agent.v1.CheckpointAgent/${method}`]);

  it('takes lowerCamelCase names and prints them', async () => {
    const res = await run('{"checkpointId": "web-2"}', 'GetCheckpoint');
    expect([res.code, res.stderr]).toEqual([0, '']);
    expect(res.json).toMatchObject({ checkpointId: 'web-2', finalState: 'FINAL_STATE_DEAD' });
    expect(res.stdout).toMatch(/^\{\n {2}"checkpointId": "web-2",\n/);
  });

  it('refuses unknown fields and enum values as grpcurl does (exit 1, before any call)', async () => {
    expect(await run('{"pid": 1, "nope": 2}', 'Continue')).toMatchObject({
      code: 1,
      stdout: '',
      stderr: expect.stringContaining('message type criu_agent.v1.ContinueRequest has no known field named nope') as unknown,
    });
    expect(await run('{"checkpoint_id": "x", "final_state": "FINAL_STATE_ASLEEP"}', 'Restore')).toMatchObject({
      code: 1,
      stdout: '',
      stderr: expect.stringContaining('enum criu_agent.v1.FinalState has no value named FINAL_STATE_ASLEEP') as unknown,
    });
  });

  it('reports an unknown method as grpcurl does (exit 1)', async () => {
    expect(await run('{}', 'NoSuchMethod')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('does not include a method named "NoSuchMethod"') as unknown,
    });
  });
});
