/**
 * Migrate between two agents over TCP with mutual TLS, as between two nodes:
 * the destination runs in its own pid, network and mount namespaces, reached
 * over a veth pair at a non-loopback address, and serves mTLS with a policy;
 * each source agent dials it with its own --peer-tls-* settings. The
 * destination authorizes the source's certificate identity through its
 * policy like any controller's; every refusal leaves the tree running on the
 * source and nothing on the destination.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { snapshotTree, treeStatus, waitForPidFree } from '../../src/proctree';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { CertDir } from '../helpers/certs';
import { killAllTargets, startTarget, type TargetState } from '../helpers/target';
import { checkpointDirs } from '../helpers/transfer';
import { inNamespacesOf, listedIds, migrateEvents, queryInNamespacesOf, type MigrateOutcome } from '../helpers/migrate';

jest.setTimeout(120_000);

const certs = new CertDir('criu-agent-migrate-tls-');
const p = (name: string): string => certs.path(name);
// A subnet and link names of this test process: other test runs on the machine use others.
const NET = `10.213.${process.pid % 250}`;
const HOST_LINK = `m13h${process.pid % 100000}`;
const DST_LINK = `m13d${process.pid % 100000}`;
const DST_ADDRESS = `${NET}.2:50051`;

let dst: AgentProcess;
/** Source agents, by what they dial the destination with. */
let mtls: AgentProcess;
let stranger: AgentProcess;
let wrongCa: AgentProcess;
let plain: AgentProcess;
let seq = 0;
const newId = (what: string): string => `${what}-${process.pid}-${seq++}`;

const migrate = (src: AgentProcess, req: object): Promise<MigrateOutcome> => migrateEvents(src.client, req);
const listed = listedIds;
const inDst = (cmd: string[]): string => inNamespacesOf(dst, cmd);
const queryInDst = (port: number): TargetState => queryInNamespacesOf(dst, port);

async function expectRefusedAndRunning(src: AgentProcess, code: grpc.status, details: RegExp): Promise<void> {
  const t = await startTarget({ children: 1 });
  const id = newId('refused');
  const { events, error } = await migrate(src, { pid: t.pid, destination: DST_ADDRESS, checkpoint_id: id });
  expect(events).toEqual([]);
  expect(error?.code).toBe(code);
  expect(error?.details).toMatch(details);
  expect(error?.details).toMatch(new RegExp(`; the tree keeps running on the source \\(pid ${t.pid}\\) and nothing was left on the destination$`));
  expect(treeStatus(await snapshotTree(t.pid))).toBe('running');
  await t.query();
  expect(await listed(dst)).not.toContain(id);
  expect(checkpointDirs(dst.stateDir).filter((n) => n.includes(id))).toEqual([]);
}

beforeAll(async () => {
  certs.makeCa('ca');
  certs.makeCa('other-ca');
  // The destination's certificate names the address the sources dial.
  certs.makeCert('dst', 'ca', 'node-b', `IP:${NET}.2`, 'serverAuth');
  certs.makeCert('src', 'ca', 'node-a', 'URI:spiffe://cluster/node/a', 'clientAuth');
  certs.makeCert('stranger', 'ca', 'node-x', 'URI:spiffe://cluster/node/x', 'clientAuth');
  fs.writeFileSync(
    p('policy.json'),
    JSON.stringify({
      roles: { peer: ['ReceiveMigration'], admin: ['*'] },
      bindings: [
        { identity: 'spiffe://cluster/node/a', role: 'peer' },
        { identity: 'uid:0', role: 'admin' },
      ],
    }),
  );
  dst = await startAgent({
    namespaced: true,
    args: ['--listen', '0.0.0.0:50051', '--tls-cert', p('dst.pem'), '--tls-key', p('dst.key'), '--tls-client-ca', p('ca.pem'), '--policy', p('policy.json')],
  });
  // A veth pair between this network namespace and the destination's: a second node at a non-loopback address.
  execFileSync('ip', ['link', 'add', HOST_LINK, 'type', 'veth', 'peer', 'name', DST_LINK, 'netns', String(dst.pid)]);
  execFileSync('ip', ['addr', 'add', `${NET}.1/24`, 'dev', HOST_LINK]);
  execFileSync('ip', ['link', 'set', HOST_LINK, 'up']);
  inDst(['ip', 'addr', 'add', `${NET}.2/24`, 'dev', DST_LINK]);
  inDst(['ip', 'link', 'set', DST_LINK, 'up']);
  const peer = (cert: string, ca = 'ca'): string[] => ['--peer-tls-ca', p(`${ca}.pem`), '--peer-tls-cert', p(`${cert}.pem`), '--peer-tls-key', p(`${cert}.key`)];
  [mtls, stranger, wrongCa, plain] = await Promise.all([
    startAgent({ args: peer('src') }),
    startAgent({ args: peer('stranger') }),
    startAgent({ args: peer('src', 'other-ca') }),
    startAgent(),
  ]);
});

afterEach(async () => {
  await killAllTargets();
});

afterAll(async () => {
  await Promise.all([mtls, stranger, wrongCa, plain, dst].map((a) => a?.dispose()));
  try {
    execFileSync('ip', ['link', 'del', HOST_LINK], { stdio: 'ignore' });
  } catch {
    // gone with the destination's namespace
  }
  certs.remove();
});

describe('Migrate over TCP with mutual TLS', () => {
  it('moves a tree to a destination that authorizes the source certificate identity', async () => {
    const t = await startTarget({ children: 1, extraMiB: 8 });
    const before = await t.query();
    const id = newId('mtls');
    const { events, error } = await migrate(mtls, { pid: t.pid, destination: DST_ADDRESS, checkpoint_id: id });
    expect(error).toBeUndefined();
    expect(events.map((e) => e.step)).toEqual(['MIGRATE_STEP_ACCEPTED', 'MIGRATE_STEP_DUMPED', 'MIGRATE_STEP_TRANSFERRED', 'MIGRATE_STEP_RESTORED', 'MIGRATE_STEP_DONE']);
    expect(events.at(-1)?.result).toMatchObject({ checkpoint_id: id, destination_pid: t.pid, final_state: 'FINAL_STATE_RUNNING' });
    const after = queryInDst(t.port);
    expect(after.pid).toBe(t.pid);
    expect(after.mem_sha256_now).toBe(before.mem_sha256_at_start);
    for (const pid of t.allPids) expect(await waitForPidFree(pid, 15_000)).toBe(true);
    expect(await listed(dst)).toContain(id);
    // The source dialed an IP over TLS: Node's DEP0123 warning (an IP as the TLS server name) must not break its JSON log.
    expect(mtls.output()).not.toMatch(/DEP0123|DeprecationWarning/);
    // The destination saw the source's certificate identity, over TLS.
    expect(dst.output()).toMatch(/"method":"ReceiveMigration".*spiffe:\/\/cluster\/node\/a|spiffe:\/\/cluster\/node\/a.*"method":"ReceiveMigration"/);
  });

  it('a source whose certificate identity the policy does not bind: PERMISSION_DENIED, the tree runs on', async () => {
    await expectRefusedAndRunning(
      stranger,
      grpc.status.PERMISSION_DENIED,
      new RegExp(`^the destination refused the tree: the destination agent at ${DST_ADDRESS} answered PERMISSION_DENIED: identity spiffe://cluster/node/x .*may not call ReceiveMigration`),
    );
  });

  it("a source that trusts another CA than the destination's: UNAVAILABLE naming the TLS verification, the tree runs on", async () => {
    await expectRefusedAndRunning(
      wrongCa,
      grpc.status.UNAVAILABLE,
      new RegExp(`^cannot reach the destination agent at ${DST_ADDRESS}: No connection established. Last error: Error: (self-signed certificate in certificate chain|unable to verify the first certificate)`),
    );
  });

  it('a source without peer TLS settings: FAILED_PRECONDITION naming the flags, before anything is frozen', async () => {
    await expectRefusedAndRunning(
      plain,
      grpc.status.FAILED_PRECONDITION,
      new RegExp(`^the destination ${DST_ADDRESS} is reached over TCP beyond loopback, which needs TLS, .*--peer-tls-ca FILE .*--peer-tls-cert FILE --peer-tls-key FILE`),
    );
  });
});
