/**
 * The deployments' security settings against a real agent: the agent started
 * with the DaemonSet's container args and with the systemd unit's ExecStart,
 * read from deploy/ (test/helpers/deploy.ts), with only their paths moved
 * under a test folder and their ports made 127.0.0.1:0. Certificates for the
 * identities of the deployment's own policy are made here by openssl. Checks
 * that the unix socket serves the probes and local operators, that mTLS and
 * the policy decide what each certificate may call, that certificates reach
 * the running agent the way the deployment renews them, and that missing
 * files stop the agent with a message naming them.
 */
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { CheckpointAgentClient } from '../../src/generated/criu_agent/v1/CheckpointAgent';
import type { ProtoGrpcType } from '../../src/generated/agent';
import { loadAgentPackageDefinition } from '../../src/proto';
import { parsePolicy, type Policy } from '../../src/policy';
import { isTransportName } from '../../src/server/authz';
import { cgroupUnder } from '../../src/service/guards';
import { call, expectStatus, startAgent, type AgentProcess } from '../helpers/agent';
import { CertDir } from '../helpers/certs';
import { cli } from '../helpers/cli';
import {
  configMapData,
  daemonSetAgent,
  daemonSetServeArgs,
  flagValue,
  flagValues,
  MANIFEST,
  policyExampleText,
  relocate,
  UNIT,
  unitServeArgs,
} from '../helpers/deploy';
import { killAllTargets, startTarget } from '../helpers/target';
import { waitUntil as waitFor } from '../helpers/wait';

jest.setTimeout(180_000);

const { OK, NOT_FOUND, PERMISSION_DENIED, UNAVAILABLE } = grpc.status;
const proto = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as ProtoGrpcType;

/** How a deployment installs changed files (a renewed certificate and key, a new policy) into the folder its args name. */
type Renew = (dir: string, files: Record<string, Buffer>) => void;

/**
 * A Kubernetes Secret volume, as the kubelet writes it: the files in a
 * timestamped folder, `..data` a symlink to it, and each key a symlink
 * through `..data`; an update writes a new folder and renames a new
 * `..data` symlink over the old one.
 */
let generation = 0;
const secretVolume: Renew = (dir, files) => {
  const data = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}${generation++}`;
  fs.mkdirSync(path.join(dir, data), { recursive: true });
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, data, name), content);
  const old = fs.existsSync(path.join(dir, '..data')) ? fs.readlinkSync(path.join(dir, '..data')) : undefined;
  fs.symlinkSync(data, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const name of Object.keys(files)) {
    if (!fs.existsSync(path.join(dir, name))) fs.symlinkSync(path.join('..data', name), path.join(dir, name));
  }
  if (old) fs.rmSync(path.join(dir, old), { recursive: true });
};

/** On a host (the unit's comments): new files renamed into place, one after the other. */
const renamedFiles: Renew = (dir, files) => {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, `.${name}.new`), content, { mode: 0o600 });
    fs.renameSync(path.join(dir, `.${name}.new`), path.join(dir, name));
  }
};

const agentContainer = daemonSetAgent();
const DEPLOYMENTS = [
  {
    name: `${MANIFEST} (DaemonSet)`,
    serveArgs: daemonSetServeArgs(),
    policy: configMapData('criu-agent-policy')['policy.json'] ?? '',
    /** The exec probes, as the kubelet runs them in the container. */
    localChecks: [agentContainer.startupProbe, agentContainer.readinessProbe, agentContainer.livenessProbe].map((p) => p?.exec?.command ?? []),
    renew: secretVolume,
  },
  {
    name: `${UNIT} (systemd)`,
    serveArgs: unitServeArgs(),
    // What the unit's comments say to install as /etc/criu-agent/policy.json.
    policy: policyExampleText(),
    localChecks: [['criu-agent', 'health']],
    renew: renamedFiles,
  },
];

/** The subjectAltName a certificate needs to carry `identity` (certificateNames in src/server/authz.ts). */
const sanFor = (identity: string): string => (identity.includes('://') ? `URI:${identity}` : identity.includes('@') ? `email:${identity}` : `DNS:${identity}`);

/** The policy's controller (a SPIFFE id allowed every RPC) and its read-only identity. */
function identitiesOf(policy: Policy): { controller: string; monitoring: string } {
  const all = (role: string): boolean => policy.roles[role]?.includes('*') ?? false;
  const controller = policy.bindings.find((b) => b.identity.startsWith('spiffe://') && all(b.role))?.identity;
  const monitoring = policy.bindings.find((b) => !isTransportName(b.identity, { tcp: 'tls', unixIdentity: policy.unixIdentity }) && !all(b.role))?.identity;
  if (!controller || !monitoring) throw new Error(`the policy has no SPIFFE operator or no read-only identity: ${JSON.stringify(policy)}`);
  return { controller, monitoring };
}

/** A pid no process has now. */
function freePid(): number {
  const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let pid = max - 1; pid > 1; pid--) if (!fs.existsSync(`/proc/${pid}`)) return pid;
  throw new Error('no free pid');
}

/** The cgroup v2 path of this process. */
const ownCgroup = /^0::(.*)$/m.exec(fs.readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '';

describe.each(DEPLOYMENTS)('$name, started with its own arguments', ({ serveArgs, policy: policyText, localChecks, renew }) => {
  const policy = parsePolicy(JSON.parse(policyText));
  const { controller, monitoring } = identitiesOf(policy);
  const allowCgroups = flagValues(serveArgs, '--allow-cgroup');
  const clients: grpc.Client[] = [];
  let certs: CertDir;
  let dir: string;
  let args: string[];
  let agent: AgentProcess;
  let address: string;

  const p = (name: string): string => certs.path(name);
  const installPolicy = (text: string): void => renew(path.dirname(flagValue(args, '--policy')), { [path.basename(flagValue(args, '--policy'))]: Buffer.from(text) });
  const reloads = (): number => agent.output().split('\n').filter((l) => l.includes('"msg":"policy reloaded"')).length;
  /** The TLS files the args name, by file name, holding server certificate `name` (and the CA, if the args name one). */
  const serverFiles = (name: string): Record<string, Buffer> => ({
    [path.basename(flagValue(args, '--tls-cert'))]: certs.read(`${name}.pem`),
    [path.basename(flagValue(args, '--tls-key'))]: certs.read(`${name}.key`),
    ...Object.fromEntries(flagValues(args, '--tls-client-ca').map((f) => [path.basename(f), certs.read('ca.pem')])),
  });

  /** A client of the TLS listener trusting the test CA, presenting certificate `who` (if any). */
  function tlsClient(who?: string): CheckpointAgentClient {
    const creds = grpc.credentials.createSsl(certs.read('ca.pem'), who ? certs.read(`${who}.key`) : null, who ? certs.read(`${who}.pem`) : null);
    const c = new proto.criu_agent.v1.CheckpointAgent(address, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
    clients.push(c);
    return c;
  }

  /** The SHA-256 fingerprint of the certificate the agent presents on a new connection. */
  function presentedFingerprint(): Promise<string> {
    const at = address.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const s = tls.connect(
        { host: address.slice(0, at), port: Number(address.slice(at + 1)), ca: certs.read('ca.pem'), cert: certs.read('controller.pem'), key: certs.read('controller.key'), servername: 'localhost', ALPNProtocols: ['h2'] },
        () => {
          resolve(s.getPeerCertificate().fingerprint256);
          s.destroy();
        },
      );
      s.on('error', reject);
    });
  }

  beforeAll(async () => {
    certs = new CertDir('criu-agent-deploy-certs-');
    certs.makeCa('ca');
    certs.makeCa('other-ca');
    certs.makeCert('server', 'ca', 'criu-agent', 'DNS:localhost,IP:127.0.0.1', 'serverAuth');
    certs.makeCert('renewed', 'ca', 'criu-agent-renewed', 'DNS:localhost,IP:127.0.0.1', 'serverAuth');
    // CNs that the policy does not name: the SAN alone must carry the identity.
    certs.makeCert('controller', 'ca', 'checkpoint-controller', sanFor(controller), 'clientAuth');
    certs.makeCert('monitoring', 'ca', 'prometheus', sanFor(monitoring), 'clientAuth');
    certs.makeCert('stranger', 'other-ca', 'checkpoint-controller', sanFor(controller), 'clientAuth');

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-deploy-'));
    args = relocate(serveArgs, dir, { ports: true });
    renew(path.dirname(flagValue(args, '--tls-cert')), serverFiles('server'));
    installPolicy(policyText);
    agent = await startAgent({ dir, serveArgs: args });
    address = agent.tcpAddress();
    // SERVING once its first CRIU probe has answered (the log says so only at debug level).
    await waitFor('health SERVING', async () => (await cli(['health', '--address', `unix:${agent.socket}`])).code === 0);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await agent?.dispose();
    await killAllTargets();
    certs?.remove();
  });

  it('serves the unix socket, root only (0600), and a TLS port', () => {
    const line = agent.output().split('\n').find((l) => l.includes('criu-agent listening')) ?? '{}';
    expect((JSON.parse(line) as { addresses?: string[] }).addresses).toEqual([`unix:${agent.socket}`, address]);
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(fs.statSync(agent.socket).mode & 0o777).toBe(0o600);
  });

  it('answers the local health checks (the DaemonSet exec probes) over the unix socket', async () => {
    expect(localChecks.length).toBeGreaterThan(0);
    for (const command of localChecks) {
      expect(command[0]).toBe('criu-agent');
      const r = await cli([...command.slice(1), '--address', `unix:${agent.socket}`]);
      expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: '' });
    }
  });

  it('lets a local operator on the unix socket call everything', async () => {
    await call(agent.client, 'Check', {});
    await expectStatus(call(agent.client, 'DeleteCheckpoint', { checkpoint_id: 'deploy-missing' }), NOT_FOUND);
  });

  it("lets the controller's certificate Check, ListCheckpoints and Dump (a missing pid is NOT_FOUND, not PERMISSION_DENIED)", async () => {
    const c = tlsClient('controller');
    await call(c, 'Check', {});
    await call(c, 'ListCheckpoints', {});
    const pid = freePid();
    await expectStatus(call(c, 'Dump', { pid, checkpoint_id: 'deploy-dump' }), NOT_FOUND, new RegExp(`no process with pid ${pid}`));
  });

  it('lets the monitoring certificate read, and refuses it DeleteCheckpoint and Dump, naming the identity', async () => {
    const c = tlsClient('monitoring');
    await call(c, 'ListCheckpoints', {});
    await expectStatus(call(c, 'GetCheckpoint', { checkpoint_id: 'deploy-missing' }), NOT_FOUND);
    await expectStatus(
      call(c, 'DeleteCheckpoint', { checkpoint_id: 'deploy-missing' }),
      PERMISSION_DENIED,
      new RegExp(`^identity ${monitoring} may not call DeleteCheckpoint; allowed: Check, GetCheckpoint, ListCheckpoints$`),
    );
    await expectStatus(call(c, 'Dump', { pid: freePid(), checkpoint_id: 'deploy-dump' }), PERMISSION_DENIED);
  });

  it('refuses plaintext, a client without a certificate and a certificate of another CA on the TLS port', async () => {
    const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 5000 });
    const plain = new proto.criu_agent.v1.CheckpointAgent(address, grpc.credentials.createInsecure());
    clients.push(plain);
    await expectStatus(call(plain, 'Check', {}, deadline()), UNAVAILABLE);
    await expectStatus(call(tlsClient(), 'Check', {}, deadline()), UNAVAILABLE);
    await expectStatus(call(tlsClient('stranger'), 'Check', {}, deadline()), UNAVAILABLE);
  });

  it('is reached by the CLI over mTLS (--tls-ca, --tls-cert, --tls-key, --tls-server-name), policy refusals included', async () => {
    const flags = (who: string): string[] => [
      '--address', address, '--tls-ca', p('ca.pem'), '--tls-cert', p(`${who}.pem`), '--tls-key', p(`${who}.key`), '--tls-server-name', 'localhost',
    ];
    expect(await cli(['ls', ...flags('controller')])).toMatchObject({ code: OK, stderr: '' });
    const refused = await cli(['rm', 'deploy-missing', ...flags('monitoring')]);
    expect(refused.code).toBe(10 + PERMISSION_DENIED);
    expect(refused.stderr).toContain(`identity ${monitoring} may not call DeleteCheckpoint`);
  });

  it(
    allowCgroups.length > 0
      ? 'refuses to dump a process outside the allowed cgroups (--allow-cgroup), even for the controller'
      : 'dumps a process of any cgroup for the controller (no --allow-cgroup)',
    async () => {
      // The test's own processes must be outside the allowed cgroups, or this shows nothing.
      expect({ ownCgroup, allowed: allowCgroups.some((c) => cgroupUnder(ownCgroup, c)) }).toEqual({ ownCgroup, allowed: false });
      const t = await startTarget({ children: 0 });
      try {
        const dump = call(tlsClient('controller'), 'Dump', { pid: t.pid, checkpoint_id: 'deploy-cgroup', final_state: 'FINAL_STATE_RUNNING' });
        if (allowCgroups.length > 0) {
          await expectStatus(dump, PERMISSION_DENIED, new RegExp(`is not under any --allow-cgroup \\(${allowCgroups.join(', ')}\\)`));
        } else {
          await dump;
        }
        expect(fs.existsSync(`/proc/${t.pid}`)).toBe(true);
      } finally {
        await t.kill();
      }
    },
  );

  it('applies a changed policy without a restart, installed the way the deployment updates it; a broken one changes nothing', async () => {
    const pid = agent.pid;
    const monitoringClient = tlsClient('monitoring');
    const deleteIt = (): Promise<unknown> => call(monitoringClient, 'DeleteCheckpoint', { checkpoint_id: 'deploy-policy' });
    await expectStatus(deleteIt(), PERMISSION_DENIED);
    const operator = Object.keys(policy.roles).find((r) => policy.roles[r]?.includes('*')) ?? '';
    const widened = { ...policy, bindings: [...policy.bindings, { identity: monitoring, role: operator }] };
    try {
      const before = reloads();
      installPolicy(JSON.stringify(widened));
      await waitFor('the reloaded policy', () => reloads() > before);
      await expectStatus(deleteIt(), NOT_FOUND);
      installPolicy('{"roles": ');
      await waitFor('the refused policy', () => agent.output().includes('not a valid policy; keeping the previous one'));
      await expectStatus(deleteIt(), NOT_FOUND);
    } finally {
      const before = reloads();
      installPolicy(policyText);
      await waitFor('the original policy back', () => reloads() > before);
    }
    await expectStatus(deleteIt(), PERMISSION_DENIED);
    expect(agent.pid).toBe(pid);
  });

  it('presents a renewed certificate, installed the way the deployment renews it, without a restart', async () => {
    const pid = agent.pid;
    const want = new X509Certificate(certs.read('renewed.pem')).fingerprint256;
    expect(await presentedFingerprint()).not.toBe(want);
    renew(path.dirname(flagValue(args, '--tls-cert')), serverFiles('renewed'));
    await waitFor('the renewed certificate', async () => (await presentedFingerprint()) === want);
    await call(tlsClient('controller'), 'Check', {});
    expect(agent.pid).toBe(pid);
    expect(agent.output()).toContain('TLS certificate reloaded');
  });

  it('does not start without its certificate or its policy: exit 2 (no systemd restart), naming the flag and the file', async () => {
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-deploy-bare-'));
    try {
      const missing = relocate(serveArgs, bare, { ports: true });
      const r = await cli(['serve', ...missing]);
      const cert = flagValue(missing, '--tls-cert');
      expect({ code: r.code, first: r.stderr.split('\n')[0] }).toEqual({
        code: 2,
        first: `criu-agent: flag --tls-cert: the TLS certificate ${cert} cannot be read: ENOENT: no such file or directory, access '${cert}'`,
      });
      // With the TLS files in place, the policy is the next thing it names.
      renew(path.dirname(cert), serverFiles('server'));
      const r2 = await cli(['serve', ...missing]);
      expect(r2.code).toBe(2);
      expect(r2.stderr).toContain(`flag --policy: cannot read the policy file ${flagValue(missing, '--policy')}: ENOENT`);
    } finally {
      fs.rmSync(bare, { recursive: true, force: true });
    }
  });
});
