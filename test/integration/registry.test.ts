/**
 * PushCheckpoint, PullCheckpoint and Restore by image reference against real
 * registries (Debian's docker-registry: one over plain HTTP, one with TLS and
 * basic auth), a real agent and real CRIU; and the failures: a corrupted blob,
 * a registry that goes away mid-push, wrong credentials.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Checkpoint__Output } from '../../src/generated/criu_agent/v1/Checkpoint';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import type { ListCheckpointsResponse__Output } from '../../src/generated/criu_agent/v1/ListCheckpointsResponse';
import type { PushCheckpointResponse__Output } from '../../src/generated/criu_agent/v1/PushCheckpointResponse';
import type { RestoreResponse__Output } from '../../src/generated/criu_agent/v1/RestoreResponse';
import { waitForPidFree } from '../../src/proctree';
import type { CheckpointRecord } from '../../src/store';
import { verifyDirectory } from '../../src/store/digest';
import { call, expectStatus, startAgent, type AgentProcess } from '../helpers/agent';
import { CLI, outcome } from '../helpers/cli';
import { startRegistry, writeAuthFile, type TestRegistry } from '../helpers/registry';
import { killAllTargets, startTarget } from '../helpers/target';
import { checkpointDirs, writeCheckpoint } from '../helpers/transfer';

jest.setTimeout(180_000);

let plain: TestRegistry;
let secure: TestRegistry;
let proxy: CuttingProxy;
let agent: AgentProcess;
let tmp: string;
let authFile: string;
let seq = 0;
const newId = (what: string): string => `${what}-${process.pid}-${seq++}`;

const listed = async (): Promise<string[]> => (await call<ListCheckpointsResponse__Output>(agent.client, 'ListCheckpoints', {})).checkpoints.map((c) => c.checkpoint_id);
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const push = (id: string, reference: string): Promise<PushCheckpointResponse__Output> => call<PushCheckpointResponse__Output>(agent.client, 'PushCheckpoint', { checkpoint_id: id, reference });
const pull = (reference: string, id = ''): Promise<Checkpoint__Output> => call<Checkpoint__Output>(agent.client, 'PullCheckpoint', { reference, checkpoint_id: id });
const record = (id: string): CheckpointRecord => JSON.parse(fs.readFileSync(path.join(agent.stateDir, 'checkpoints', id, 'checkpoint.json'), 'utf8')) as CheckpointRecord;

/** Nothing of `id` here: not listed, no directory, no temporary directory. */
async function expectNothingOf(id: string): Promise<void> {
  expect(await listed()).not.toContain(id);
  expect(checkpointDirs(agent.stateDir).filter((n) => n.includes(id))).toEqual([]);
}

beforeAll(async () => {
  [plain, secure] = await Promise.all([startRegistry(), startRegistry({ tls: true, user: { name: 'ci', password: 'right-pw' } })]);
  proxy = await cuttingProxy(Number(plain.host.split(':')[1]));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-registry-it-'));
  authFile = path.join(tmp, 'auth.json');
  writeAuthFile(authFile, secure.host, 'ci', 'right-pw');
  agent = await startAgent({
    args: [
      '--pid-wait-ms', '5000',
      '--registry-insecure', plain.host,
      '--registry-insecure', proxy.host,
      '--registry-ca', `${secure.host}=${secure.caFile ?? ''}`,
      '--registry-auth-file', authFile,
    ],
  });
});

afterEach(async () => {
  await killAllTargets();
});

afterAll(async () => {
  await agent?.dispose();
  await proxy?.close();
  await Promise.all([plain?.stop(), secure?.stop()]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a dumped tree through a registry', () => {
  it('push, delete here, pull (CLI), restore: same program, memory intact; a second push sends only the manifest', async () => {
    const t = await startTarget({ extraMiB: 8 });
    const before = await t.query();
    const id = newId('web');
    const dumped = await call<DumpResponse__Output>(agent.client, 'Dump', { pid: t.pid, checkpoint_id: id });
    const ref = `${plain.host}/team/web:${id}`;

    const first = await push(id, ref);
    expect(first.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(first.reference).toBe(ref);
    // Every file once, plus the config and the manifest (a few KiB).
    expect(Number(first.bytes_uploaded)).toBeGreaterThanOrEqual(Number(dumped.size_bytes));
    expect(Number(first.bytes_uploaded)).toBeLessThan(Number(dumped.size_bytes) + 64 * 1024);
    const again = await push(id, ref);
    expect(again.digest).toBe(first.digest);
    // Files with the same bytes are one blob, counted once.
    expect(Number(again.bytes_skipped)).toBeLessThanOrEqual(Number(dumped.size_bytes));
    expect(Number(again.bytes_skipped)).toBeGreaterThan(Number(dumped.size_bytes) - 64 * 1024);
    expect(Number(again.bytes_uploaded)).toBeLessThan(16 * 1024);

    await call(agent.client, 'DeleteCheckpoint', { checkpoint_id: id });
    await expectNothingOf(id);

    const pulled = await outcome(spawn(process.execPath, [CLI, 'pull', ref, '--address', `unix:${agent.socket}`], { stdio: ['ignore', 'pipe', 'pipe'] }));
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toMatch(new RegExp(`^pulled ${ref.replace(/[.]/g, '\\.')} as checkpoint ${id}: \\d+ files, .* in [\\d.]+ s \\(.*/s\\), digests verified\\n$`));
    const c = await call<Checkpoint__Output>(agent.client, 'GetCheckpoint', { checkpoint_id: id });
    expect(c).toMatchObject({ kind: 'CHECKPOINT_KIND_DUMP', pid: t.pid, size_bytes: dumped.size_bytes, digest_algorithm: 'xxh64' });

    for (const pid of t.allPids) expect(await waitForPidFree(pid, 15_000)).toBe(true);
    const restored = await call<RestoreResponse__Output>(agent.client, 'Restore', { checkpoint_id: id });
    expect(restored.pid).toBe(t.pid);
    const after = await t.query(5000);
    expect(after.mem_sha256_now).toBe(before.mem_sha256_at_start);
    expect(after.children).toEqual([...t.childPids]);
  });

  it('Restore with image_reference pulls (by digest, under the id asked for) and restores in one call', async () => {
    const t = await startTarget({ children: 1 });
    const before = await t.query();
    const id = newId('byref');
    await call(agent.client, 'Dump', { pid: t.pid, checkpoint_id: id });
    const { digest } = await push(id, `${plain.host}/team/byref:v1`);
    await call(agent.client, 'DeleteCheckpoint', { checkpoint_id: id });
    for (const pid of t.allPids) expect(await waitForPidFree(pid, 15_000)).toBe(true);

    const local = `${id}-here`;
    const restored = await call<RestoreResponse__Output>(agent.client, 'Restore', { image_reference: `${plain.host}/team/byref@${digest}`, checkpoint_id: local });
    expect(restored).toMatchObject({ pid: t.pid, checkpoint_id: local, final_state: 'FINAL_STATE_RUNNING' });
    expect((await t.query(5000)).mem_sha256_now).toBe(before.mem_sha256_at_start);
    expect(await listed()).toContain(local);
  });
});

describe('pre-dump chains and deduplication (store fixtures: this kernel cannot pre-dump)', () => {
  it("pushing a dump built on a pushed pre-dump sends only the dump's own files; pulling it brings the chain back", async () => {
    const pre = newId('pre');
    const dump = newId('dump');
    const pages1 = randomBytes(3 * 1024 * 1024);
    const pages2 = randomBytes(1024 * 1024);
    const preRecord = await writeCheckpoint(agent.stateDir, pre, { 'pages-1.img': pages1, 'pagemap-1.img': 'pm1', 'empty.img': '' }, { kind: 'pre-dump' });
    const dumpRecord = await writeCheckpoint(agent.stateDir, dump, { 'pages-2.img': pages2, 'core-1.img': 'core', 'pagemap-2.img': 'pm2' }, { parentId: pre });

    const p1 = await push(pre, `${plain.host}/team/chain:round-1`);
    expect(Number(p1.bytes_uploaded)).toBeGreaterThanOrEqual(preRecord.sizeBytes);
    const d1 = await push(dump, `${plain.host}/team/chain:final`);
    // The pre-dump's pages are in the registry already: HEAD says so, they are not sent again.
    expect(Number(d1.bytes_skipped)).toBe(preRecord.sizeBytes);
    expect(Number(d1.bytes_uploaded)).toBeGreaterThanOrEqual(dumpRecord.sizeBytes);
    expect(Number(d1.bytes_uploaded)).toBeLessThan(dumpRecord.sizeBytes + 16 * 1024);
    expect(plain.blobs()).toEqual(expect.arrayContaining([sha256(pages1), sha256(pages2)]));

    await call(agent.client, 'DeleteCheckpoint', { checkpoint_id: pre, cascade: true });
    await expectNothingOf(pre);
    const got = await pull(`${plain.host}/team/chain:final`, dump);
    expect(got).toMatchObject({ checkpoint_id: dump, parent_checkpoint_id: pre, kind: 'CHECKPOINT_KIND_DUMP' });
    expect(await listed()).toEqual(expect.arrayContaining([pre, dump]));
    expect(fs.readFileSync(path.join(agent.stateDir, 'checkpoints', pre, 'pages-1.img')).equals(pages1)).toBe(true);
    expect(fs.readlinkSync(path.join(agent.stateDir, 'checkpoints', dump, 'parent'))).toBe(`../${pre}`);
    await verifyDirectory(path.join(agent.stateDir, 'checkpoints', dump), record(dump).files, { exclude: ['checkpoint.json'] });

    // Under another id: the pre-dump here is the same, it is kept and not downloaded again.
    const copy = await pull(`${plain.host}/team/chain:final`, `${dump}-copy`);
    expect(copy).toMatchObject({ checkpoint_id: `${dump}-copy`, parent_checkpoint_id: pre });
    // Pulling onto an id that exists is refused.
    await expectStatus(pull(`${plain.host}/team/chain:final`, dump), grpc.status.ALREADY_EXISTS, new RegExp(`checkpoint ${dump} already exists`));
  });
});

describe('failures', () => {
  it('a corrupted blob in the registry storage: DATA_LOSS at pull, nothing listed', async () => {
    const id = newId('corrupt');
    const pages = randomBytes(2 * 1024 * 1024);
    await writeCheckpoint(agent.stateDir, id, { 'pages-1.img': pages, 'core-1.img': 'core' });
    await push(id, `${plain.host}/team/corrupt:v1`);
    await call(agent.client, 'DeleteCheckpoint', { checkpoint_id: id });

    const blob = plain.blobPath(sha256(pages));
    const bytes = fs.readFileSync(blob);
    bytes[1000] = (bytes[1000] ?? 0) ^ 0xff;
    fs.writeFileSync(blob, bytes);
    await expectStatus(pull(`${plain.host}/team/corrupt:v1`), grpc.status.DATA_LOSS, /does not match its digest|does not match the sender's digest/);
    await expectNothingOf(id);
  });

  it('a local file changed since the dump: DATA_LOSS at push, nothing sent', async () => {
    const id = newId('changed');
    const pages = randomBytes(1024 * 1024);
    await writeCheckpoint(agent.stateDir, id, { 'pages-1.img': pages, 'core-1.img': 'core' });
    const file = path.join(agent.stateDir, 'checkpoints', id, 'pages-1.img');
    const changed = Buffer.from(pages);
    changed[5] = (changed[5] ?? 0) ^ 1;
    fs.writeFileSync(file, changed);
    await expectStatus(push(id, `${plain.host}/team/changed:v1`), grpc.status.DATA_LOSS, /pages-1\.img changed since the dump/);
    expect(plain.blobs()).not.toContain(sha256(changed));
  });

  it('the registry goes away mid-push: UNAVAILABLE, and the local checkpoint is untouched', async () => {
    const id = newId('cut');
    await writeCheckpoint(agent.stateDir, id, { 'pages-1.img': randomBytes(48 * 1024 * 1024), 'core-1.img': 'core' });
    const before = fs.readFileSync(path.join(agent.stateDir, 'checkpoints', id, 'checkpoint.json'));
    proxy.cutAfter(20 * 1024 * 1024);
    await expectStatus(push(id, `${proxy.host}/team/cut:v1`), grpc.status.UNAVAILABLE, /cannot be reached/);
    expect(proxy.cut).toBe(true);
    expect(await listed()).toContain(id);
    expect(fs.readFileSync(path.join(agent.stateDir, 'checkpoints', id, 'checkpoint.json')).equals(before)).toBe(true);
    await verifyDirectory(path.join(agent.stateDir, 'checkpoints', id), record(id).files, { exclude: ['checkpoint.json'] });
  });

  it('TLS registry with basic auth: pushes and pulls with the configured CA and credentials; wrong ones are UNAUTHENTICATED in its words', async () => {
    const id = newId('tls');
    await writeCheckpoint(agent.stateDir, id, { 'pages-1.img': randomBytes(100_000), 'core-1.img': 'core' });
    const ref = `${secure.host}/team/tls:v1`;
    await push(id, ref);
    await call(agent.client, 'DeleteCheckpoint', { checkpoint_id: id });
    expect((await pull(ref)).checkpoint_id).toBe('v1');

    writeAuthFile(authFile, secure.host, 'ci', 'wrong-pw');
    try {
      const err = await expectStatus(push('v1', `${secure.host}/team/tls:v2`), grpc.status.UNAUTHENTICATED, /UNAUTHORIZED: authentication required.*user ci/);
      expect(err.details).not.toMatch(/wrong-pw/);
      expect(agent.output()).not.toMatch(/wrong-pw|right-pw/);
    } finally {
      writeAuthFile(authFile, secure.host, 'ci', 'right-pw');
    }
  });

  it('with a policy, a Restore by image_reference needs PullCheckpoint as well as Restore', async () => {
    const policy = path.join(tmp, 'policy.json');
    fs.writeFileSync(policy, JSON.stringify({ roles: { restorer: ['Restore'] }, bindings: [{ identity: 'uid:0', role: 'restorer' }] }));
    const restricted = await startAgent({ args: ['--policy', policy, '--registry-insecure', plain.host] });
    try {
      await expectStatus(call(restricted.client, 'Restore', { checkpoint_id: 'nope' }), grpc.status.NOT_FOUND);
      await expectStatus(
        call(restricted.client, 'Restore', { image_reference: `${plain.host}/team/web:v1` }),
        grpc.status.PERMISSION_DENIED,
        /may not call PullCheckpoint.*Restore with image_reference pulls/,
      );
    } finally {
      await restricted.dispose();
    }
  });

  it('refuses what is not a checkpoint image, and bad references, precisely', async () => {
    await expectStatus(pull(`${plain.host}/team/nothing:here`), grpc.status.NOT_FOUND, /MANIFEST_UNKNOWN/);
    await expectStatus(push('x', 'Not A Reference'), grpc.status.INVALID_ARGUMENT, /reference/);
    await expectStatus(push('x', `${plain.host}/team/web@sha256:${'a'.repeat(64)}`), grpc.status.INVALID_ARGUMENT, /names a digest; push to a tag/);
  });
});

interface CuttingProxy {
  host: string;
  /** Whether it cut (and stopped listening). */
  readonly cut: boolean;
  /** After this many bytes from clients, drop every connection and stop listening: the registry is gone. */
  cutAfter(bytes: number): void;
  close(): Promise<void>;
}

/** A TCP proxy to the registry that can vanish mid-transfer, deterministically (after N bytes, not after a time). */
async function cuttingProxy(targetPort: number): Promise<CuttingProxy> {
  let limit = Infinity;
  let seen = 0;
  let cut = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d: Buffer) => {
      seen += d.length;
      if (seen > limit && !cut) {
        cut = true;
        server.close();
        for (const s of sockets) s.destroy();
        return;
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    get cut() {
      return cut;
    },
    cutAfter: (bytes) => {
      limit = bytes;
      seen = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}
