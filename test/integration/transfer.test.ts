/**
 * ExportCheckpoint and ImportCheckpoint between two real agents (each with its
 * own state directory and socket): a real tree dumped on one, moved as a
 * stream (over gRPC and through the CLI's file format), restored on the other;
 * and every way an import is refused, each leaving nothing listed and no
 * partial directory behind.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Checkpoint__Output } from '../../src/generated/criu_agent/v1/Checkpoint';
import type { CheckpointChunk__Output } from '../../src/generated/criu_agent/v1/CheckpointChunk';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import type { ListCheckpointsResponse__Output } from '../../src/generated/criu_agent/v1/ListCheckpointsResponse';
import type { RestoreResponse__Output } from '../../src/generated/criu_agent/v1/RestoreResponse';
import { waitForPidFree } from '../../src/proctree';
import { call, expectStatus, startAgent, type AgentProcess } from '../helpers/agent';
import { CLI, outcome } from '../helpers/cli';
import { killAllTargets, startTarget } from '../helpers/target';
import { checkpointDirs, exportChunks, importChunks, writeCheckpoint } from '../helpers/transfer';

jest.setTimeout(120_000);

let a: AgentProcess;
let b: AgentProcess;
let seq = 0;
const newId = (what: string): string => `${what}-${process.pid}-${seq++}`;

const listed = async (agent: AgentProcess): Promise<string[]> =>
  (await call<ListCheckpointsResponse__Output>(agent.client, 'ListCheckpoints', {})).checkpoints.map((c) => c.checkpoint_id);

/** Nothing of `id` on `agent`: not listed, no directory, no temporary directory. */
async function expectNothingOf(agent: AgentProcess, id: string): Promise<void> {
  expect(await listed(agent)).not.toContain(id);
  expect(checkpointDirs(agent.stateDir).filter((n) => n.includes(id))).toEqual([]);
}

beforeAll(async () => {
  [a, b] = await Promise.all([startAgent({ args: ['--pid-wait-ms', '5000'] }), startAgent({ args: ['--pid-wait-ms', '5000'] })]);
});

afterEach(async () => {
  await killAllTargets();
});

afterAll(async () => {
  await Promise.all([a?.dispose(), b?.dispose()]);
});

describe('a dumped tree moves to another agent', () => {
  it('dump on A, ExportCheckpoint | ImportCheckpoint into B, restore on B: same program, memory intact', async () => {
    const t = await startTarget({ extraMiB: 8 });
    const before = await t.query();
    const id = newId('move');
    const dumped = await call<DumpResponse__Output>(a.client, 'Dump', { pid: t.pid, checkpoint_id: id });
    const chunks = await exportChunks(a.client, { checkpoint_id: id });
    // A manifest, then the data: the 8 MiB of pages come in several chunks, none over 512 KiB.
    expect(chunks[0]?.chunk).toBe('manifest');
    expect(chunks.slice(1).every((c) => c.chunk === 'data')).toBe(true);
    expect(Math.max(...chunks.slice(1).map((c) => c.data?.data.length ?? 0))).toBe(512 * 1024);
    const sent = chunks.slice(1).reduce((n, c) => n + (c.data?.data.length ?? 0), 0);
    expect(String(sent)).toBe(dumped.size_bytes);

    const imported = await importChunks(b.client, chunks);
    expect(imported).toMatchObject({ checkpoint_id: id, kind: 'CHECKPOINT_KIND_DUMP', pid: t.pid, size_bytes: dumped.size_bytes, digest_algorithm: 'xxh64' });
    expect(imported.images_dir).toBe(path.join(b.stateDir, 'checkpoints', id));
    expect(await listed(b)).toContain(id);

    for (const pid of t.allPids) expect(await waitForPidFree(pid, 15_000)).toBe(true);
    const restored = await call<RestoreResponse__Output>(b.client, 'Restore', { checkpoint_id: id });
    expect(restored.pid).toBe(t.pid);
    const after = await t.query(5000);
    expect(after.mem_sha256_now).toBe(before.mem_sha256_at_start);
    expect(after.counter).toBeGreaterThanOrEqual(before.counter);
    expect(after.children).toEqual([...t.childPids]);
  });

  it('exports the same bytes every time, and the CLI moves a checkpoint through a file and through a pipe', async () => {
    const t = await startTarget({ children: 1 });
    const id = newId('cli');
    await call(a.client, 'Dump', { pid: t.pid, checkpoint_id: id });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-export-'));
    try {
      const file = path.join(dir, 'c.stream');
      const exp = await outcome(spawn(process.execPath, [CLI, 'export', id, '-o', file, '--address', `unix:${a.socket}`], { stdio: ['ignore', 'pipe', 'pipe'] }));
      expect(exp.code).toBe(0);
      expect(exp.stderr).toMatch(new RegExp(`^exported checkpoint ${id}: \\d+ files, .* to ${file}\\n$`));
      // Exporting to a file that exists is refused and leaves it alone.
      const again = await outcome(spawn(process.execPath, [CLI, 'export', id, '-o', file, '--address', `unix:${a.socket}`], { stdio: ['ignore', 'pipe', 'pipe'] }));
      expect(again.code).not.toBe(0);
      expect(again.stderr).toMatch(/EEXIST/);
      const second = path.join(dir, 'again.stream');
      execFileSync(process.execPath, [CLI, 'export', id, '-o', second, '--address', `unix:${a.socket}`], { stdio: 'ignore' });
      expect(fs.readFileSync(second).equals(fs.readFileSync(file))).toBe(true);

      const imp = await outcome(spawn(process.execPath, [CLI, 'import', file, '--address', `unix:${b.socket}`], { stdio: ['ignore', 'pipe', 'pipe'] }));
      expect(imp.stderr).toBe('');
      expect(imp.code).toBe(0);
      expect(imp.stdout).toMatch(new RegExp(`^imported checkpoint ${id}: \\d+ files, .*, digests verified\\n`));
      // Importing it again: ALREADY_EXISTS, exit 10 + 6.
      const dup = await outcome(spawn(process.execPath, [CLI, 'import', file, '--address', `unix:${b.socket}`], { stdio: ['ignore', 'pipe', 'pipe'] }));
      expect(dup.code).toBe(16);
      expect(dup.stderr).toMatch(new RegExp(`ALREADY_EXISTS: checkpoint ${id} already exists on this node`));

      // export | import, stdout to stdin, into a third agent.
      const c = await startAgent();
      try {
        const piped = await outcome(
          spawn('sh', ['-c', `"$0" "$1" export "$2" --address "unix:$3" | "$0" "$1" import --address "unix:$4"`, process.execPath, CLI, id, a.socket, c.socket], {
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        );
        expect(piped.code).toBe(0);
        expect(piped.stdout).toMatch(new RegExp(`^imported checkpoint ${id}:`));
        const there = await call<Checkpoint__Output>(c.client, 'GetCheckpoint', { checkpoint_id: id });
        const here = await call<Checkpoint__Output>(a.client, 'GetCheckpoint', { checkpoint_id: id });
        expect({ ...there, images_dir: '' }).toEqual({ ...here, images_dir: '' });

        // A truncated file: the import fails, the agent keeps nothing.
        const cut = path.join(dir, 'cut.stream');
        fs.writeFileSync(cut, fs.readFileSync(file).subarray(0, Math.floor(fs.statSync(file).size / 2)));
        await call(c.client, 'DeleteCheckpoint', { checkpoint_id: id });
        const bad = await outcome(spawn(process.execPath, [CLI, 'import', cut, '--address', `unix:${c.socket}`], { stdio: ['ignore', 'pipe', 'pipe'] }));
        expect(bad.code).not.toBe(0);
        expect(bad.stderr).toMatch(/ends in the middle of a chunk|DATA_LOSS/);
        await expectNothingOf(c, id);
      } finally {
        await c.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a checkpoint with the pre-dumps it builds on', () => {
  it('include_parents sends the chain oldest first, and the importer lists all of it with its parent links', async () => {
    const root = newId('pre-root');
    const mid = newId('pre-mid');
    const top = newId('dump-top');
    await writeCheckpoint(a.stateDir, root, { 'pages-1.img': Buffer.alloc(700_000, 1) }, { kind: 'pre-dump' });
    await writeCheckpoint(a.stateDir, mid, { 'pages-1.img': 'mid' }, { kind: 'pre-dump', parentId: root });
    await writeCheckpoint(a.stateDir, top, { 'pages-1.img': 'top', 'core-1.img': '' }, { parentId: mid });

    // Without the parents, B lacks mid: FAILED_PRECONDITION, nothing kept.
    await expectStatus(
      importChunks(b.client, await exportChunks(a.client, { checkpoint_id: top })),
      grpc.status.FAILED_PRECONDITION,
      new RegExp(`checkpoint ${top} builds on ${mid}, which is neither on this node nor earlier in the stream`),
    );
    await expectNothingOf(b, top);

    const chunks = await exportChunks(a.client, { checkpoint_id: top, include_parents: true });
    expect(chunks.filter((c) => c.manifest).map((c) => c.manifest?.checkpoint?.checkpoint_id)).toEqual([root, mid, top]);
    const imported = await importChunks(b.client, chunks);
    expect(imported.checkpoint_id).toBe(top);
    expect(imported.parent_checkpoint_id).toBe(mid);
    expect(fs.readlinkSync(path.join(b.stateDir, 'checkpoints', top, 'parent'))).toBe(`../${mid}`);
    const got = await call<Checkpoint__Output>(b.client, 'GetCheckpoint', { checkpoint_id: mid });
    expect(got.children).toEqual([top]);
    expect(got.kind).toBe('CHECKPOINT_KIND_PRE_DUMP');
    expect(fs.readFileSync(path.join(b.stateDir, 'checkpoints', root, 'pages-1.img')).equals(Buffer.alloc(700_000, 1))).toBe(true);

    // A stream whose last checkpoint is damaged keeps none of the chain (all or none).
    await call(b.client, 'DeleteCheckpoint', { checkpoint_id: root, cascade: true });
    const damaged = structuredClone(chunks);
    const last = damaged.at(-1)?.data;
    if (!last) throw new Error('no data chunk');
    last.data = Buffer.from('tip');
    await expectStatus(importChunks(b.client, damaged), grpc.status.DATA_LOSS, /does not match the sender's digest/);
    for (const id of [root, mid, top]) await expectNothingOf(b, id);
  });
});

describe('refusals leave nothing behind', () => {
  let id: string;
  let chunks: CheckpointChunk__Output[];

  beforeAll(async () => {
    id = newId('refuse');
    await writeCheckpoint(a.stateDir, id, { 'pages-1.img': Buffer.alloc(1_200_000, 7), 'core-1.img': 'core' });
    chunks = await exportChunks(a.client, { checkpoint_id: id });
  });

  it('an id that exists: ALREADY_EXISTS, the existing checkpoint untouched', async () => {
    const other = newId('taken');
    await writeCheckpoint(b.stateDir, other, { 'x.img': 'mine' });
    const renamed = chunks.map((c) =>
      c.manifest?.checkpoint ? { ...c, manifest: { ...c.manifest, checkpoint: { ...c.manifest.checkpoint, checkpoint_id: other } } } : c,
    );
    await expectStatus(importChunks(b.client, renamed), grpc.status.ALREADY_EXISTS, new RegExp(`checkpoint ${other} already exists on this node`));
    expect((await call<Checkpoint__Output>(b.client, 'GetCheckpoint', { checkpoint_id: other })).file_count).toBe(1);
    expect(checkpointDirs(b.stateDir).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('a byte changed in transit: DATA_LOSS naming the file', async () => {
    const bad = structuredClone(chunks);
    const data = bad.find((c) => c.data && c.data.data.length > 1000)?.data;
    if (!data) throw new Error('no data chunk');
    data.data[1000] = (data.data[1000] ?? 0) ^ 0xff;
    await expectStatus(importChunks(b.client, bad), grpc.status.DATA_LOSS, new RegExp(`checkpoint ${id}: ${data.path} does not match the sender's digest`));
    await expectNothingOf(b, id);
  });

  it('a stream that ends early: DATA_LOSS; one cancelled half-way: nothing kept', async () => {
    await expectStatus(importChunks(b.client, chunks.slice(0, -1)), grpc.status.DATA_LOSS, /the stream ended before .* was complete/);
    await expectNothingOf(b, id);
    await expectStatus(importChunks(b.client, chunks, { cancelAfter: 2 }), grpc.status.CANCELLED);
    // The agent notices the cancel and removes what it received.
    for (let i = 0; i < 50 && checkpointDirs(b.stateDir).some((n) => n.includes(id)); i++) await new Promise((r) => setTimeout(r, 100));
    await expectNothingOf(b, id);
  });

  it('a malformed stream: INVALID_ARGUMENT (data first, a path escaping the checkpoint, out-of-order data)', async () => {
    await expectStatus(importChunks(b.client, chunks.slice(1)), grpc.status.INVALID_ARGUMENT, /file data before any manifest/);
    const escaping = structuredClone(chunks);
    const m = escaping[0]?.manifest;
    if (!m?.files[0]) throw new Error('no manifest');
    m.files[0].path = '../../escape.img';
    await expectStatus(importChunks(b.client, escaping), grpc.status.INVALID_ARGUMENT, /is not a plain relative path/);
    const skipped = [chunks[0], ...chunks.slice(2)] as CheckpointChunk__Output[];
    await expectStatus(importChunks(b.client, skipped), grpc.status.INVALID_ARGUMENT, /at offset \d+, expected offset 0|expected .* at offset 0/);
    await expectNothingOf(b, id);
    expect(fs.existsSync(path.join(b.stateDir, 'escape.img'))).toBe(false);
  });

  it('a state directory too small: RESOURCE_EXHAUSTED before anything is written', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-small-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir]);
    let small: AgentProcess | undefined;
    try {
      small = await startAgent({ dir });
      await expectStatus(importChunks(small.client, chunks), grpc.status.RESOURCE_EXHAUSTED, new RegExp(`not enough space to import checkpoint ${id}: it is 1\\.1 MiB`));
      await expectNothingOf(small, id);
    } finally {
      await small?.stop();
      execFileSync('umount', [dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an identity whose role lacks ImportCheckpoint: PERMISSION_DENIED, while it may export', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-policy-'));
    const policy = path.join(dir, 'policy.json');
    fs.writeFileSync(policy, JSON.stringify({ roles: { exporter: ['ExportCheckpoint', 'ListCheckpoints'] }, bindings: [{ identity: 'uid:0', role: 'exporter' }] }));
    const limited = await startAgent({ dir, args: ['--policy', policy] });
    try {
      await expectStatus(importChunks(limited.client, chunks), grpc.status.PERMISSION_DENIED, /^identity uid:0 may not call ImportCheckpoint; allowed: ExportCheckpoint, ListCheckpoints$/);
      await expectStatus(exportChunks(limited.client, { checkpoint_id: 'none-here' }), grpc.status.NOT_FOUND, /checkpoint none-here does not exist/);
      await expectNothingOf(limited, id);
    } finally {
      await limited.dispose();
    }
  });

  it('exporting a checkpoint whose file changed since the dump: DATA_LOSS, not a stream of the wrong bytes', async () => {
    const changed = newId('changed');
    await writeCheckpoint(a.stateDir, changed, { 'pages-1.img': 'original' });
    fs.writeFileSync(path.join(a.stateDir, 'checkpoints', changed, 'pages-1.img'), 'tampered');
    await expectStatus(exportChunks(a.client, { checkpoint_id: changed }), grpc.status.DATA_LOSS, new RegExp(`checkpoint ${changed}: pages-1.img changed since the dump`));
  });
});
