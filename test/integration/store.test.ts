/**
 * The checkpoint lifecycle end to end: manifests as ListCheckpoints and
 * GetCheckpoint show them, DeleteCheckpoint, directories without a complete
 * manifest, retention, and trees left stopped across an agent restart.
 * Real agent, real CRIU, real process trees.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/config';
import type { CriuClient } from '../../src/criu/client';
import type { CheckResponse__Output } from '../../src/generated/criu_agent/v1/CheckResponse';
import type { Checkpoint__Output } from '../../src/generated/criu_agent/v1/Checkpoint';
import type { ContinueResponse__Output } from '../../src/generated/criu_agent/v1/ContinueResponse';
import type { DeleteCheckpointResponse__Output } from '../../src/generated/criu_agent/v1/DeleteCheckpointResponse';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import type { ListCheckpointsResponse__Output } from '../../src/generated/criu_agent/v1/ListCheckpointsResponse';
import type { RestoreResponse__Output } from '../../src/generated/criu_agent/v1/RestoreResponse';
import { pidInUse, waitForPidFree, waitForTreeStatus } from '../../src/proctree';
import { toStatus } from '../../src/server/status';
import { createServices } from '../../src/service';
import { CheckpointStore, type CheckpointRecord } from '../../src/store';
import { startAgent, type AgentProcess, call, expectStatus } from '../helpers/agent';
import { agentRejection } from '../helpers/errors';
import { killAllTargets, startTarget, TARGET_SCRIPT } from '../helpers/target';

jest.setTimeout(180_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
let seq = 0;
const newId = (what: string): string => `${what}-${process.pid}-${seq++}`;

let agent: AgentProcess;
const dump = (req: object): Promise<DumpResponse__Output> => call(agent.client, 'Dump', req);
const restore = (req: object): Promise<RestoreResponse__Output> => call(agent.client, 'Restore', req);
const cont = (pid: number): Promise<ContinueResponse__Output> => call(agent.client, 'Continue', { pid });
const list = async (a: AgentProcess = agent): Promise<Checkpoint__Output[]> =>
  (await call<ListCheckpointsResponse__Output>(a.client, 'ListCheckpoints', {})).checkpoints;
const get = (id: string): Promise<Checkpoint__Output> => call(agent.client, 'GetCheckpoint', { checkpoint_id: id });
const del = (id: string, cascade = false): Promise<DeleteCheckpointResponse__Output> =>
  call(agent.client, 'DeleteCheckpoint', { checkpoint_id: id, cascade });

async function expectAllFree(pids: readonly number[]): Promise<void> {
  const busy: number[] = [];
  for (const pid of pids) if (!(await waitForPidFree(pid, 15_000))) busy.push(pid);
  expect(busy).toEqual([]);
}

async function expectTreeStatus(pid: number, want: 'running' | 'stopped' | 'gone'): Promise<void> {
  expect((await waitForTreeStatus(pid, want, 5000)).status).toBe(want);
}

/** Every regular file and symlink under dir, relative, with its lstat size. */
function filesOnDisk(dir: string, rel = ''): { path: string; size: number }[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? filesOnDisk(dir, r) : [{ path: r, size: fs.lstatSync(path.join(dir, r)).size }];
  });
}

beforeAll(async () => {
  agent = await startAgent({ args: ['--pid-wait-ms', '500'] });
});

afterEach(async () => {
  await killAllTargets();
});

afterAll(async () => {
  await agent?.dispose();
});

describe('manifests', () => {
  it('ListCheckpoints and GetCheckpoint show the manifest of a dump; the Dump and Restore replies carry their statistics', async () => {
    const t = await startTarget({ children: 1 });
    const check = await call<CheckResponse__Output>(agent.client, 'Check', {});
    const id = newId('manifest');
    const startedAt = Date.now();
    const d = await dump({ pid: t.pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' });
    const endedAt = Date.now();
    await expectTreeStatus(t.pid, 'running');

    const listed = (await list()).filter((c) => c.checkpoint_id === id);
    expect(listed).toHaveLength(1);
    const c = await get(id);
    expect(listed[0]).toEqual(c);

    expect(c.kind).toBe('CHECKPOINT_KIND_DUMP');
    expect(c.parent_checkpoint_id).toBe('');
    expect(c.children).toEqual([]);
    expect(c.pid).toBe(t.pid);
    expect([...c.pids].sort()).toEqual([...t.allPids].sort());
    expect(c.pids[0]).toBe(t.pid);
    expect(c.command_line).toContain(TARGET_SCRIPT);
    expect(c.command_line[0]).toMatch(/python3/);
    const created = Date.parse(c.created_at);
    expect(Number.isFinite(created)).toBe(true);
    expect(c.created_at).toMatch(/Z$/);
    expect(created).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(created).toBeLessThanOrEqual(endedAt + 1000);
    expect(c.criu_version).toBe(check.criu_version);
    expect(c.kernel).toBe(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
    expect(c.final_state).toBe('FINAL_STATE_RUNNING');
    expect(c.digest_algorithm).toBe('xxh64');
    expect(c.images_dir).toBe(path.join(agent.stateDir, 'checkpoints', id));

    // size_bytes and file_count: every file of the checkpoint but the manifest and CRIU's log.
    const files = filesOnDisk(c.images_dir).filter((f) => f.path !== 'checkpoint.json' && !/^dump.*\.log$/.test(f.path));
    expect(files.some((f) => /^pages-\d+\.img$/.test(f.path))).toBe(true);
    const onDisk = files.reduce((n, f) => n + f.size, 0);
    expect(Number(c.size_bytes)).toBeGreaterThan(0);
    expect(Number(c.size_bytes)).toBe(onDisk);
    expect(c.file_count).toBe(files.length);

    expect(c.stats).not.toBeNull();
    expect(Number(c.stats?.pages_written)).toBeGreaterThan(0);
    expect(Number(c.stats?.frozen_time_us)).toBeGreaterThan(0);
    expect(Number(c.stats?.pages_scanned)).toBeGreaterThanOrEqual(Number(c.stats?.pages_written));

    // The Dump reply said the same.
    expect(d.stats).toEqual(c.stats);
    expect(d.size_bytes).toBe(c.size_bytes);
    expect(d.images_dir).toBe(c.images_dir);
    expect([...d.pids]).toEqual([...c.pids]);

    // Restore reports its own statistics.
    for (const pid of t.allPids) process.kill(pid, 'SIGKILL');
    await expectAllFree(t.allPids);
    const r = await restore({ checkpoint_id: id });
    expect(r.pid).toBe(t.pid);
    expect(r.stats).not.toBeNull();
    expect(Number(r.stats?.restore_time_us)).toBeGreaterThan(0);
    expect(Number(r.stats?.forking_time_us)).toBeGreaterThan(0);
    await expectTreeStatus(t.pid, 'running');
    const s = await t.query(5000);
    expect(s.mem_sha256_now).toBe(s.mem_sha256_at_start);

    // The manifest is unchanged by the restore (its log and stats are not part of it).
    expect(await get(id)).toEqual(c);
  });

  it('GetCheckpoint: NOT_FOUND for an unknown id, INVALID_ARGUMENT for a malformed one', async () => {
    const unknown = newId('unknown');
    await expectStatus(get(unknown), grpc.status.NOT_FOUND, new RegExp(`checkpoint ${unknown} does not exist`));
    for (const bad of ['', '../checkpoints', 'a/b', '.tmp-x', '-x', 'x'.repeat(129)]) {
      await expectStatus(get(bad), grpc.status.INVALID_ARGUMENT, /checkpoint_id/);
    }
  });
});

describe('request ids', () => {
  it("name CRIU's logs: the manifest of a dump, the restore log, and a failed dump's kept log", async () => {
    const t = await startTarget({ children: 0 });
    const id = newId('rid');
    const withId = <Res>(method: 'Dump' | 'Restore', req: object, rid: string): Promise<Res> => {
      const md = new grpc.Metadata();
      md.set('x-request-id', rid);
      return new Promise<Res>((resolve, reject) => {
        const fn = (agent.client[method] as unknown as (r: object, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, v?: Res) => void) => void).bind(agent.client);
        fn(req, md, (e, v) => (e ? reject(e) : resolve(v as Res)));
      });
    };
    await withId<DumpResponse__Output>('Dump', { pid: t.pid, checkpoint_id: id }, `dump-${id}`);
    const manifest = JSON.parse(fs.readFileSync(path.join(agent.stateDir, 'checkpoints', id, 'checkpoint.json'), 'utf8')) as { requestId?: string };
    expect(manifest.requestId).toBe(`dump-${id}`);
    await expectAllFree([t.pid]);
    const r = await withId<RestoreResponse__Output>('Restore', { checkpoint_id: id }, `restore-${id}`);
    // Every CRIU log is <operation>-<request id>.log.
    expect(path.basename(r.log_path)).toBe(`restore-restore-${id}.log`);
    // A dump CRIU refuses (stdio on sockets of this process): its log is kept under failed/.
    const piped = spawn('/usr/bin/python3', ['-c', 'import time\nwhile True: time.sleep(1)'], { detached: true, stdio: 'pipe' });
    try {
      await new Promise((res) => setTimeout(res, 300));
      const err = await withId('Dump', { pid: piped.pid, checkpoint_id: `${id}-fail`, final_state: 'FINAL_STATE_RUNNING' }, `fail-${id}`).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
      const kept = String(err?.metadata.get('criu-log')[0]);
      expect(path.dirname(kept)).toBe(path.join(agent.stateDir, 'failed'));
      expect(path.basename(kept)).toBe(`${id}-fail-dump-fail-${id}.log`);
      expect(fs.existsSync(kept)).toBe(true);
    } finally {
      piped.kill('SIGKILL');
    }
  });
});

describe('DeleteCheckpoint', () => {
  it('removes the checkpoint: directory gone, no longer listed or found', async () => {
    const t = await startTarget({ children: 1 });
    const keep = newId('keep');
    const gone = newId('del');
    await dump({ pid: t.pid, checkpoint_id: keep, final_state: 'FINAL_STATE_RUNNING' });
    const d = await dump({ pid: t.pid, checkpoint_id: gone, final_state: 'FINAL_STATE_RUNNING' });
    expect(fs.existsSync(d.images_dir)).toBe(true);

    expect((await del(gone)).deleted).toEqual([gone]);
    expect(fs.existsSync(d.images_dir)).toBe(false);
    const checkpoints = path.join(agent.stateDir, 'checkpoints');
    expect(fs.readdirSync(checkpoints).filter((n) => n.includes(gone))).toEqual([]);
    const ids = (await list()).map((c) => c.checkpoint_id);
    expect(ids).not.toContain(gone);
    expect(ids).toContain(keep);
    await expectStatus(get(gone), grpc.status.NOT_FOUND);
    await expectStatus(restore({ checkpoint_id: gone }), grpc.status.NOT_FOUND, /does not exist/);
    // Deleting it again, or an id never used, is NOT_FOUND; a malformed id INVALID_ARGUMENT.
    await expectStatus(del(gone), grpc.status.NOT_FOUND, new RegExp(`checkpoint ${gone} does not exist`));
    await expectStatus(del(newId('never')), grpc.status.NOT_FOUND, /does not exist/);
    await expectStatus(del('../state'), grpc.status.INVALID_ARGUMENT, /checkpoint_id/);
    // The other checkpoint is untouched.
    expect((await get(keep)).checkpoint_id).toBe(keep);
    await expectTreeStatus(t.pid, 'running');
  });

  it('is ABORTED, naming the restore, while a Restore of the same checkpoint is in progress; the restore completes', async () => {
    const t = await startTarget({ children: 1, extraMiB: 512 });
    const id = newId('busy');
    const d = await dump({ pid: t.pid, checkpoint_id: id });
    await expectAllFree(t.allPids);

    const restoreLogs = (): string[] => fs.readdirSync(d.images_dir).filter((n) => /^restore-.*\.log$/.test(n));
    const pending = restore({ checkpoint_id: id }).then(
      (r) => ({ ok: true as const, r }),
      (e: grpc.ServiceError) => ({ ok: false as const, e }),
    );
    try {
      // CRIU is at work once its log exists (the digests are checked before).
      for (let i = 0; i < 6000 && restoreLogs().length === 0; i++) await sleep(5);
      expect(restoreLogs()).toHaveLength(1);
      await expectStatus(
        del(id),
        grpc.status.ABORTED,
        new RegExp(`checkpoint ${escape(id)} is busy: restore of checkpoint ${escape(id)} \\(pid ${t.pid}(, request [^)]+)?\\) is in progress`),
      );
    } finally {
      // Whatever happened above, the restore ends before afterEach kills the tree.
      await pending;
    }

    const outcome = await pending;
    if (!outcome.ok) throw new Error(`restore failed: ${outcome.e.details}`);
    expect(outcome.r.pid).toBe(t.pid);
    await expectTreeStatus(t.pid, 'running');
    expect(fs.existsSync(path.join(d.images_dir, 'checkpoint.json'))).toBe(true);
    expect((await list()).map((c) => c.checkpoint_id)).toContain(id);

    // Once the restore is over the checkpoint can go (the restored tree is not affected).
    expect((await del(id)).deleted).toEqual([id]);
    expect(fs.existsSync(d.images_dir)).toBe(false);
    await expectTreeStatus(t.pid, 'running');
    const s = await t.query(5000);
    expect(s.mem_sha256_now).toBe(s.mem_sha256_at_start);
  });

  // PreDump needs soft-dirty tracking, which this kernel lacks, so the agent
  // cannot make a parent checkpoint here; the refusal is checked on the real
  // store and service objects with records committed through the store.
  it('refuses a checkpoint others build on unless cascade is set (store and service layer)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-store-'));
    try {
      const store = await CheckpointStore.open(dir);
      const record = (id: string, kind: CheckpointRecord['kind'], parentId: string | undefined, createdAt: string): CheckpointRecord => ({
        id,
        kind,
        ...(parentId ? { parentId } : {}),
        pid: 4242,
        pids: [4242],
        commandLine: ['x'],
        createdAt,
        criuVersion: '4.2.1',
        kernel: os.release(),
        finalState: kind === 'dump' ? 'DEAD' : 'RUNNING',
        logFile: `${kind}.log`,
        sizeBytes: 0,
        fileCount: 0,
        digestAlgorithm: 'xxh64',
        files: [],
      });
      for (const r of [
        record('pre-1', 'pre-dump', undefined, '2026-01-01T00:00:01.000Z'),
        record('pre-2', 'pre-dump', 'pre-1', '2026-01-01T00:00:02.000Z'),
        record('full-3', 'dump', 'pre-2', '2026-01-01T00:00:03.000Z'),
        record('alone', 'dump', undefined, '2026-01-01T00:00:04.000Z'),
      ]) {
        await (await store.create(r.id)).commit(r);
      }
      const unusedCriu = (): Promise<never> => Promise.reject(new Error('CRIU is not used here'));
      const criu: CriuClient = { description: 'none', version: unusedCriu, features: unusedCriu, dump: unusedCriu, preDump: unusedCriu, restore: unusedCriu };
      const services = createServices({ config: loadConfig({ argv: ['--state-dir', dir], env: {} }), criu, store });

      expect((await services.checkpoints.get('pre-1')).children).toEqual(['pre-2']);
      const err = await agentRejection(services.checkpoints.delete('pre-1', false));
      expect(toStatus(err).code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(err.message).toMatch(/checkpoint pre-1 is the parent of pre-2; .*cascade/);
      expect((await store.list()).map((c) => c.id)).toEqual(['pre-1', 'pre-2', 'full-3', 'alone']);

      // Retention never picks a checkpoint another builds on.
      expect(await store.retentionVictims({ maxCount: 1, maxBytes: 0 }, new Set())).toEqual(['full-3', 'pre-2', 'pre-1']);
      expect(await store.retentionVictims({ maxCount: 3, maxBytes: 0 }, new Set(['full-3']))).toEqual(['alone']);

      expect(await services.checkpoints.delete('pre-1', true)).toEqual(['full-3', 'pre-2', 'pre-1']);
      expect((await store.list()).map((c) => c.id)).toEqual(['alone']);
      expect(fs.readdirSync(store.checkpointsDir)).toEqual(['alone']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a directory without a complete manifest', () => {
  it('is never listed nor restored: no checkpoint.json is NOT_FOUND, a truncated one DATA_LOSS naming the directory', async () => {
    const checkpoints = path.join(agent.stateDir, 'checkpoints');
    const t = await startTarget({ children: 1 });
    const real = newId('real');
    await dump({ pid: t.pid, checkpoint_id: real, final_state: 'FINAL_STATE_RUNNING' });

    // Image-looking files, but no manifest.
    const fake = 'fake-1';
    const fakeDir = path.join(checkpoints, fake);
    fs.mkdirSync(fakeDir);
    for (const f of ['inventory.img', 'pstree.img', 'pages-1.img']) fs.copyFileSync(path.join(checkpoints, real, f), path.join(fakeDir, f));
    // A copy of a real checkpoint whose manifest was cut short.
    const truncated = newId('truncated');
    const truncDir = path.join(checkpoints, truncated);
    fs.cpSync(path.join(checkpoints, real), truncDir, { recursive: true });
    const manifest = fs.readFileSync(path.join(truncDir, 'checkpoint.json'));
    fs.writeFileSync(path.join(truncDir, 'checkpoint.json'), manifest.subarray(0, Math.floor(manifest.length / 2)));

    const ids = (await list()).map((c) => c.checkpoint_id);
    expect(ids).toContain(real);
    expect(ids).not.toContain(fake);
    expect(ids).not.toContain(truncated);

    await expectStatus(get(fake), grpc.status.NOT_FOUND, /checkpoint fake-1 does not exist/);
    await expectStatus(restore({ checkpoint_id: fake }), grpc.status.NOT_FOUND, /checkpoint fake-1 does not exist/);
    const unreadable = new RegExp(`checkpoint ${escape(truncated)} at ${escape(truncDir)} has a damaged or incomplete manifest \\(.*JSON.*\\).*DeleteCheckpoint`);
    await expectStatus(get(truncated), grpc.status.DATA_LOSS, unreadable);
    await expectStatus(restore({ checkpoint_id: truncated }), grpc.status.DATA_LOSS, unreadable);

    // Nothing was restored from either (the original still holds its pids and runs).
    expect(fs.readdirSync(fakeDir).filter((n) => n.startsWith('restore-'))).toEqual([]);
    expect(fs.readdirSync(truncDir).filter((n) => n.startsWith('restore-'))).toEqual([]);
    await expectTreeStatus(t.pid, 'running');
    // The id of the manifest-less directory cannot be dumped into over it.
    await expectStatus(dump({ pid: t.pid, checkpoint_id: fake, final_state: 'FINAL_STATE_RUNNING' }), grpc.status.ALREADY_EXISTS, /fake-1/);
    expect(fs.readdirSync(fakeDir).sort()).toEqual(['inventory.img', 'pages-1.img', 'pstree.img']);
    await expectTreeStatus(t.pid, 'running');

    // Both can be removed through the API, as the DATA_LOSS message says.
    expect((await del(fake)).deleted).toEqual([fake]);
    expect((await del(truncated)).deleted).toEqual([truncated]);
    expect(fs.existsSync(fakeDir)).toBe(false);
    expect(fs.existsSync(truncDir)).toBe(false);
  });

  it('a manifest that parses but is incomplete is neither listed nor restored, and breaks nothing else', async () => {
    const t = await startTarget({ children: 1 });
    const real = newId('real');
    await dump({ pid: t.pid, checkpoint_id: real, final_state: 'FINAL_STATE_RUNNING' });
    const dir = path.join(agent.stateDir, 'checkpoints', 'inc-1');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'checkpoint.json'), '{"id":"inc-1","kind":"dump"}');
    try {
      const ids = (await list()).map((c) => c.checkpoint_id);
      expect(ids).toContain(real);
      expect(ids).not.toContain('inc-1');
      expect((await get(real)).checkpoint_id).toBe(real);
      await expectStatus(get('inc-1'), grpc.status.DATA_LOSS, /inc-1.*incomplete manifest \(pid is missing\)/);
      await expectStatus(restore({ checkpoint_id: 'inc-1' }), grpc.status.DATA_LOSS, /inc-1/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('retention', () => {
  it('with --retain-max-count 2, three dumps leave the two newest', async () => {
    const a = await startAgent({ args: ['--retain-max-count', '2'] });
    try {
      const t = await startTarget({ children: 1 });
      const ids = [newId('ret'), newId('ret'), newId('ret')];
      for (const id of ids) {
        const r = await call<DumpResponse__Output>(a.client, 'Dump', { pid: t.pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' });
        expect(r.checkpoint_id).toBe(id);
      }
      expect((await list(a)).map((c) => c.checkpoint_id)).toEqual(ids.slice(1));
      const checkpoints = path.join(a.stateDir, 'checkpoints');
      expect(fs.readdirSync(checkpoints).sort()).toEqual(ids.slice(1).sort());
      await expectTreeStatus(t.pid, 'running');
    } finally {
      await a.dispose();
    }
  });
});

describe('trees left stopped', () => {
  it('a tree left STOPPED by Dump is remembered across an agent restart; one stopped by hand is not the agent\'s', async () => {
    const byDump = await startTarget({ children: 1 });
    const byHand = await startTarget({ children: 1 });
    const id = newId('stopped');
    const d = await dump({ pid: byDump.pid, checkpoint_id: id, final_state: 'FINAL_STATE_STOPPED' });
    expect(d.final_state).toBe('FINAL_STATE_STOPPED');
    await expectTreeStatus(byDump.pid, 'stopped');
    for (const pid of byHand.allPids) process.kill(pid, 'SIGSTOP');
    await expectTreeStatus(byHand.pid, 'stopped');

    agent = await agent.restart();

    const c1 = await cont(byDump.pid);
    expect(c1.stopped_by).toBe(`dump into checkpoint ${id}`);
    expect([...c1.pids].sort()).toEqual([...byDump.allPids].sort());
    await expectTreeStatus(byDump.pid, 'running');
    const c2 = await cont(byHand.pid);
    expect(c2.stopped_by).toBe('');
    expect([...c2.pids].sort()).toEqual([...byHand.allPids].sort());
    await expectTreeStatus(byHand.pid, 'running');
    await byDump.query(5000);
    await byHand.query(5000);

    // Continue forgot it: stopped again by hand, it is no longer the agent's.
    for (const pid of byDump.allPids) process.kill(pid, 'SIGSTOP');
    await expectTreeStatus(byDump.pid, 'stopped');
    expect((await cont(byDump.pid)).stopped_by).toBe('');
    await expectTreeStatus(byDump.pid, 'running');
    for (const pid of byDump.allPids) expect(await pidInUse(pid)).toBe(true);
  });
});
