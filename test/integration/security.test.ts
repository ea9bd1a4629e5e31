/**
 * Security (issue #5) against real agents: TLS and mTLS with certificates
 * made here by openssl, the policy (PERMISSION_DENIED naming the identity),
 * certificate reload while a call is in flight, audit lines, the target
 * allow-lists (--allow-cgroup, --allow-uid) and the per-client call limit.
 */
import * as grpc from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { CheckpointAgentClient } from '../../src/generated/criu_agent/v1/CheckpointAgent';
import type { ProtoGrpcType } from '../../src/generated/agent';
import { loadAgentPackageDefinition } from '../../src/proto';
import { auditLines, call, expectStatus, startAgent, type AgentProcess } from '../helpers/agent';
import { CertDir } from '../helpers/certs';
import { CLI, readableCliCopy } from '../helpers/cli';
import { killAllTargets, startTarget } from '../helpers/target';
import { waitUntil as waitFor } from '../helpers/wait';

jest.setTimeout(180_000);

const { PERMISSION_DENIED, RESOURCE_EXHAUSTED, UNAVAILABLE, FAILED_PRECONDITION } = grpc.status;
const proto = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as ProtoGrpcType;

let certs: CertDir;
const p = (name: string): string => certs.path(name);
const read = (name: string): Buffer => certs.read(name);

/** A client of `address` over TLS trusting `ca`, presenting the client certificate `who` (if any). */
function tlsClient(address: string, who?: string, ca = 'ca'): CheckpointAgentClient {
  const creds = grpc.credentials.createSsl(read(`${ca}.pem`), who ? read(`${who}.key`) : null, who ? read(`${who}.pem`) : null);
  return new proto.criu_agent.v1.CheckpointAgent(address, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
}

/** The SHA-256 fingerprint of the certificate the server presents on a new connection. */
function serverFingerprint(address: string, who: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, ca: read('ca.pem'), cert: read(`${who}.pem`), key: read(`${who}.key`), servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

/** The policy of the TLS tests: the controller certificate operates, the reader's reads. */
const CERT_POLICY = {
  roles: { reader: ['Check', 'ListCheckpoints', 'GetCheckpoint'], operator: ['*'] },
  bindings: [
    { identity: 'spiffe://cluster/controller', role: 'operator' },
    { identity: 'spiffe://cluster/reader', role: 'reader' },
  ],
};

const clients: CheckpointAgentClient[] = [];
const agents: AgentProcess[] = [];
const track = <T extends CheckpointAgentClient>(c: T): T => (clients.push(c), c);

beforeAll(() => {
  certs = new CertDir('criu-agent-security-');
  certs.makeCa('ca');
  certs.makeCa('rogue-ca');
  certs.makeCert('server', 'ca', 'criu-agent', 'DNS:localhost,IP:127.0.0.1', 'serverAuth');
  certs.makeCert('server2', 'ca', 'criu-agent-renewed', 'DNS:localhost,IP:127.0.0.1', 'serverAuth');
  certs.makeCert('controller', 'ca', 'controller', 'URI:spiffe://cluster/controller', 'clientAuth');
  certs.makeCert('reader', 'ca', 'reader', 'URI:spiffe://cluster/reader', 'clientAuth');
  // Signed by the trusted CA, but naming itself as the transport would name a local caller.
  certs.makeCert('impostor', 'ca', 'unix', 'URI:uid:0,DNS:loopback', 'clientAuth');
  certs.makeCert('rogue', 'rogue-ca', 'controller', 'URI:spiffe://cluster/controller', 'clientAuth');
  fs.copyFileSync(p('server.pem'), p('live.pem'));
  fs.copyFileSync(p('server.key'), p('live.key'));
  fs.writeFileSync(p('policy.json'), JSON.stringify(CERT_POLICY));
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const a of agents) await a.dispose();
  await killAllTargets();
  certs.remove();
});

describe('mTLS with a policy', () => {
  let agent: AgentProcess;
  let address: string;

  beforeAll(async () => {
    agent = await startAgent({
      args: ['--listen', '127.0.0.1:0', '--tls-cert', p('live.pem'), '--tls-key', p('live.key'), '--tls-client-ca', p('ca.pem'), '--policy', p('policy.json')],
    });
    agents.push(agent);
    address = agent.tcpAddress();
  });

  it('refuses plaintext on the TLS port', async () => {
    const plain = track(new proto.criu_agent.v1.CheckpointAgent(address, grpc.credentials.createInsecure()));
    await expectStatus(call(plain, 'Check', {}, { deadline: Date.now() + 3000 }), UNAVAILABLE);
  });

  it('refuses a client certificate of another CA, and a client without a certificate', async () => {
    await expectStatus(call(track(tlsClient(address, 'rogue')), 'Check', {}, { deadline: Date.now() + 3000 }), UNAVAILABLE);
    await expectStatus(call(track(tlsClient(address)), 'Check', {}, { deadline: Date.now() + 3000 }), UNAVAILABLE);
  });

  it('lets an authorized identity call, and refuses an identity the policy does not allow the RPC, naming both', async () => {
    const controller = track(tlsClient(address, 'controller'));
    await call(controller, 'Check', {});
    const reader = track(tlsClient(address, 'reader'));
    await call(reader, 'ListCheckpoints', {});
    await expectStatus(
      call(reader, 'DeleteCheckpoint', { checkpoint_id: 'x' }),
      PERMISSION_DENIED,
      /^identity spiffe:\/\/cluster\/reader may not call DeleteCheckpoint; allowed: Check, GetCheckpoint, ListCheckpoints$/,
    );
    await waitFor('the refusal in the log', () => agent.output().includes('identity spiffe://cluster/reader may not call DeleteCheckpoint'));
  });

  it('writes an audit line for state-changing calls (also refused ones), with identity, method, checkpoint, code and duration', async () => {
    const reader = track(tlsClient(address, 'reader'));
    const refused = await expectStatus(call(reader, 'DeleteCheckpoint', { checkpoint_id: 'audit-me' }), PERMISSION_DENIED);
    const refusedId = refused.metadata.get('x-request-id')[0];
    expect(refusedId).toEqual(expect.any(String));
    const controller = track(tlsClient(address, 'controller'));
    await expectStatus(call(controller, 'DeleteCheckpoint', { checkpoint_id: 'audit-missing' }), grpc.status.NOT_FOUND);
    await waitFor('audit lines', () => auditLines(agent).some((l) => l.checkpointId === 'audit-missing'));
    const lines = auditLines(agent);
    expect(lines.find((l) => l.checkpointId === 'audit-missing')).toMatchObject({
      audit: true,
      identity: 'spiffe://cluster/controller',
      method: 'DeleteCheckpoint',
      code: 'NOT_FOUND',
      ms: expect.any(Number) as number,
      requestId: expect.any(String) as string,
    });
    // The refusal's id is the one the client got back, in the audit line and the authorization's warning.
    expect(lines.find((l) => l.checkpointId === 'audit-me')).toMatchObject({
      identity: 'spiffe://cluster/reader',
      code: 'PERMISSION_DENIED',
      requestId: refusedId,
    });
    expect(agent.output()).toMatch(new RegExp(`"requestId":"${String(refusedId)}".*"msg":"identity spiffe://cluster/reader may not call DeleteCheckpoint`));
    // Reads are not audited.
    expect(lines.some((l) => l.method === 'Check' || l.method === 'ListCheckpoints')).toBe(false);
  });

  it('reloads a replaced certificate for new connections while a Dump in flight completes', async () => {
    const controller = track(tlsClient(address, 'controller'));
    const before = await serverFingerprint(address, 'controller');
    const target = await startTarget({ children: 1, extraMiB: 256 });
    const id = `reload-${process.pid}`;
    const dump = call(controller, 'Dump', { pid: target.pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' });
    // Replace the pair (the key first: a moment of mismatch must not break the listener).
    fs.copyFileSync(p('server2.key'), p('live.key.tmp'));
    fs.renameSync(p('live.key.tmp'), p('live.key'));
    fs.copyFileSync(p('server2.pem'), p('live.pem.tmp'));
    fs.renameSync(p('live.pem.tmp'), p('live.pem'));
    await dump;
    await waitFor('the reload', () => agent.output().includes('TLS certificate reloaded'));
    const after = await serverFingerprint(address, 'controller');
    expect(after).not.toBe(before);
    // The existing connection goes on, a new one works with the new certificate.
    await call(controller, 'Check', {});
    await call(track(tlsClient(address, 'controller')), 'GetCheckpoint', { checkpoint_id: id });
    const line = auditLines(agent).find((l) => l.checkpointId === id);
    expect(line).toMatchObject({ identity: 'spiffe://cluster/controller', method: 'Dump', pid: target.pid, code: 'OK' });
    await target.kill();
  });
});

describe('a unix socket and an mTLS port on one agent: identities per connection', () => {
  let agent: AgentProcess;
  let address: string;

  /** A copy of the CLI nobody can read wherever the checkout is (root's 0700 home, say). */
  let nobodysCli: ReturnType<typeof readableCliCopy> | undefined;

  /** The CLI run as uid/gid 65534 (nobody), which the socket's mode 0666 lets connect. */
  const asNobody = (...args: string[]): { status: number | null; stderr: string } => {
    nobodysCli ??= readableCliCopy();
    const r = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, nobodysCli.cli, ...args, '--address', `unix:${agent.socket}`], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: r.status, stderr: r.stderr };
  };

  afterAll(() => nobodysCli?.remove());

  beforeAll(async () => {
    const bindings = [...CERT_POLICY.bindings, { identity: 'uid:0', role: 'operator' }, { identity: 'unix', role: 'reader' }];
    fs.writeFileSync(p('policy-uids.json'), JSON.stringify({ ...CERT_POLICY, bindings }));
    // A folder others may enter, so that the socket's own mode is what decides.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-uids-'));
    fs.chmodSync(dir, 0o755);
    agent = await startAgent({
      dir,
      args: ['--listen', '127.0.0.1:0', '--tls-cert', p('server.pem'), '--tls-key', p('server.key'), '--tls-client-ca', p('ca.pem'),
        '--policy', p('policy-uids.json'), '--socket-mode', '0666'],
    });
    agents.push(agent);
    address = agent.tcpAddress();
  });

  it('listens on both, in --listen order', () => {
    const line = agent.output().split('\n').find((l) => l.includes('criu-agent listening')) ?? '{}';
    expect((JSON.parse(line) as { addresses: string[] }).addresses).toEqual([`unix:${agent.socket}`, address]);
  });

  it('names a unix socket caller by its uid: root may delete, nobody may only read', async () => {
    await expectStatus(call(agent.client, 'DeleteCheckpoint', { checkpoint_id: 'by-root' }), grpc.status.NOT_FOUND);
    await waitFor('the audit line', () => auditLines(agent).some((l) => l.checkpointId === 'by-root'));
    expect(auditLines(agent).find((l) => l.checkpointId === 'by-root')).toMatchObject({
      identity: 'uid:0',
      code: 'NOT_FOUND',
      peer: expect.stringMatching(/^unix-peer:pid=\d+,uid=0,gid=0$/) as string,
    });
    const denied = asNobody('rm', 'by-nobody');
    expect(denied.stderr).toContain('identity uid:65534 may not call DeleteCheckpoint; allowed: Check, GetCheckpoint, ListCheckpoints');
    expect(denied.status).toBe(10 + PERMISSION_DENIED);
    expect(asNobody('ls')).toMatchObject({ status: 0 });
  });

  it('keeps TLS identities on the TCP port: plaintext refused, the reader refused a write, the controller allowed', async () => {
    await expectStatus(call(track(new proto.criu_agent.v1.CheckpointAgent(address, grpc.credentials.createInsecure())), 'Check', {}, { deadline: Date.now() + 3000 }), UNAVAILABLE);
    await expectStatus(call(track(tlsClient(address, 'reader')), 'DeleteCheckpoint', { checkpoint_id: 'x' }), PERMISSION_DENIED, /^identity spiffe:\/\/cluster\/reader may not call/);
    await expectStatus(call(track(tlsClient(address, 'controller')), 'DeleteCheckpoint', { checkpoint_id: 'x' }), grpc.status.NOT_FOUND);
  });

  it('never takes a local caller\'s name from a certificate: CN=unix, URI:uid:0 is anonymous', async () => {
    await expectStatus(
      call(track(tlsClient(address, 'impostor')), 'DeleteCheckpoint', { checkpoint_id: 'x' }),
      PERMISSION_DENIED,
      /^identity anonymous may not call DeleteCheckpoint; allowed: nothing/,
    );
  });
});

describe('TLS files that are not a certificate and key', () => {
  it('stop the agent at start with exit 2, naming the files', () => {
    fs.writeFileSync(p('garbage.pem'), 'not a certificate\n');
    const r = spawnSync(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--state-dir', p('state-garbage'),
      '--tls-cert', p('garbage.pem'), '--tls-key', p('server.key')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`criu-agent: --tls-cert ${p('garbage.pem')} with --tls-key ${p('server.key')}: not a usable certificate, key and CA in PEM:`);
  });
});

describe('TLS without client certificates and without a policy', () => {
  it('serves nothing of the agent to anonymous clients (health stays open)', async () => {
    const agent = await startAgent({ args: ['--listen', '127.0.0.1:0', '--tls-cert', p('server.pem'), '--tls-key', p('server.key')] });
    agents.push(agent);
    const address = agent.tcpAddress();
    await expectStatus(call(track(tlsClient(address)), 'Check', {}), PERMISSION_DENIED, /^identity anonymous may not call Check: .*--tls-client-ca/);
  });
});

describe('target guards and the per-client limit (unix socket)', () => {
  it('refuses a target outside --allow-uid and --allow-cgroup, naming the rule; allows one inside', async () => {
    const target = await startTarget({ children: 0 });
    const cgroup = /^0::(.*)$/m.exec(fs.readFileSync(`/proc/${target.pid}/cgroup`, 'utf8'))?.[1] ?? '/';
    const byUid = await startAgent({ args: ['--allow-uid', '12345'] });
    agents.push(byUid);
    await expectStatus(call(byUid.client, 'Continue', { pid: target.pid }), PERMISSION_DENIED, new RegExp(`^refusing to touch pid ${target.pid}: its real uid 0 is not an --allow-uid \\(12345\\)$`));
    const byCgroup = await startAgent({ args: ['--allow-cgroup', '/no-such.slice', '--allow-cgroup', '/other.slice'] });
    agents.push(byCgroup);
    await expectStatus(
      call(byCgroup.client, 'Continue', { pid: target.pid }),
      PERMISSION_DENIED,
      /its cgroup .* is not under any --allow-cgroup \(\/no-such.slice, \/other.slice\)$/,
    );
    const allowed = await startAgent({ args: ['--allow-cgroup', cgroup, '--allow-uid', '0'] });
    agents.push(allowed);
    // Past the guards: the tree is running, so there is nothing to continue.
    await expectStatus(call(allowed.client, 'Continue', { pid: target.pid }), FAILED_PRECONDITION);
    await target.kill();
  });

  it('answers RESOURCE_EXHAUSTED beyond --max-calls-per-client', async () => {
    const agent = await startAgent({ args: ['--max-calls-per-client', '1'] });
    agents.push(agent);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => call(agent.client, 'Check', {})));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r).reason as grpc.ServiceError);
    expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) {
      expect(e.code).toBe(RESOURCE_EXHAUSTED);
      expect(e.details).toMatch(/^identity uid:0 already has 1 calls in flight \(--max-calls-per-client 1\)/);
    }
    // Once they are done, the client may call again.
    await call(agent.client, 'Check', {});
  });
});
