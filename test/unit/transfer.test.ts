/**
 * The one reader and the one writer of checkpoint streams, store to store in
 * temporary directories: what the reader yields, that the writer lists
 * nothing until every digest matched, and its refusals.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentError } from '../../src/errors';
import { CheckpointStore } from '../../src/store';
import { CHUNK_BYTES, CheckpointWriter, checkpointChain, readCheckpoints, type TransferItem } from '../../src/transfer';
import { writeCheckpoint } from '../helpers/transfer';

let root: string;
let from: CheckpointStore;
let to: CheckpointStore;

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-transfer-'));
  from = await CheckpointStore.open(path.join(root, 'from'));
  to = await CheckpointStore.open(path.join(root, 'to'));
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

async function collect(it: AsyncIterable<TransferItem>): Promise<TransferItem[]> {
  const out: TransferItem[] = [];
  for await (const i of it) out.push(i);
  return out;
}

async function importAll(items: TransferItem[]): Promise<string[]> {
  const w = new CheckpointWriter(to);
  try {
    for (const i of items) await w.accept(i);
    return (await w.commit()).map((r) => r.id);
  } catch (err) {
    await w.abort();
    throw err;
  }
}

async function rejection(p: Promise<unknown>): Promise<AgentError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    return err as AgentError;
  }
  throw new Error('expected a rejection');
}

const big = Buffer.alloc(CHUNK_BYTES * 2 + 5, 3);

async function chainOfThree(): Promise<void> {
  await writeCheckpoint(from.stateDir, 'p1', { 'pages-1.img': big }, { kind: 'pre-dump' });
  await writeCheckpoint(from.stateDir, 'p2', { 'pages-1.img': 'two', 'empty.img': '' }, { kind: 'pre-dump', parentId: 'p1' });
  await writeCheckpoint(from.stateDir, 'd', { 'core-1.img': 'core' }, { parentId: 'p2' });
}

describe('readCheckpoints', () => {
  it('yields each manifest, then its regular non-empty files in CHUNK_BYTES pieces, parents first', async () => {
    await chainOfThree();
    const items = await collect(readCheckpoints(from, await checkpointChain(from, 'd', true)));
    expect(items.map((i) => (i.kind === 'manifest' ? `m:${i.record.id}` : `${i.path}@${i.offset}+${i.bytes.length}`))).toEqual([
      'm:p1',
      `pages-1.img@0+${CHUNK_BYTES}`,
      `pages-1.img@${CHUNK_BYTES}+${CHUNK_BYTES}`,
      `pages-1.img@${2 * CHUNK_BYTES}+5`,
      'm:p2',
      'pages-1.img@0+3',
      'm:d',
      'core-1.img@0+4',
    ]);
    expect((await checkpointChain(from, 'd', false)).map((r) => r.id)).toEqual(['d']);
  });

  it('ends with DATA_LOSS when a file no longer matches its manifest', async () => {
    await writeCheckpoint(from.stateDir, 'x', { 'a.img': 'aaaa' });
    fs.writeFileSync(path.join(from.pathOf('x'), 'a.img'), 'bbbb');
    const err = await rejection(collect(readCheckpoints(from, await checkpointChain(from, 'x', false))));
    expect(err.kind).toBe('data-loss');
    expect(err.message).toMatch(/^checkpoint x: a.img changed since the dump/);
  });
});

describe('CheckpointWriter', () => {
  it('stores the chain with identical files, the parent link and empty files, listed only at commit', async () => {
    await chainOfThree();
    const items = await collect(readCheckpoints(from, await checkpointChain(from, 'd', true)));
    const w = new CheckpointWriter(to);
    for (const i of items) await w.accept(i);
    expect(await to.list()).toEqual([]);
    expect((await w.commit()).map((r) => r.id)).toEqual(['p1', 'p2', 'd']);
    expect((await to.list()).map((r) => r.id).sort()).toEqual(['d', 'p1', 'p2']);
    expect(fs.readFileSync(path.join(to.pathOf('p1'), 'pages-1.img')).equals(big)).toBe(true);
    expect(fs.readFileSync(path.join(to.pathOf('p2'), 'empty.img'), 'utf8')).toBe('');
    expect(fs.readlinkSync(path.join(to.pathOf('d'), 'parent'))).toBe('../p2');
    expect((await to.get('d'))?.files).toEqual((await from.get('d'))?.files);
  });

  it('refuses a changed byte (DATA_LOSS) and a cut stream (DATA_LOSS), keeping nothing of the chain', async () => {
    await chainOfThree();
    const items = await collect(readCheckpoints(from, await checkpointChain(from, 'd', true)));
    const changed = items.map((i) => (i.kind === 'data' && i.path === 'core-1.img' ? { ...i, bytes: Buffer.from('cone') } : i));
    expect((await rejection(importAll(changed))).message).toMatch(/^checkpoint d: core-1.img does not match the sender's digest/);
    expect(fs.readdirSync(to.checkpointsDir)).toEqual([]);
    const cut = items.slice(0, 2);
    const err = await rejection(importAll(cut));
    expect(err.kind).toBe('data-loss');
    expect(err.message).toMatch(/the stream ended before pages-1.img was complete \(524288 of 1048581 bytes\)/);
    expect(fs.readdirSync(to.checkpointsDir)).toEqual([]);
  });

  it('refuses an existing id, a missing parent, a path outside the checkpoint and a foreign symlink', async () => {
    await chainOfThree();
    const d = await collect(readCheckpoints(from, await checkpointChain(from, 'd', false)));
    expect((await rejection(importAll(d))).kind).toBe('failed-precondition');
    await writeCheckpoint(to.stateDir, 'p2', { 'x.img': 'x' }, { kind: 'pre-dump' });
    expect(await importAll(d)).toEqual(['d']);
    expect((await rejection(importAll(d))).kind).toBe('already-exists');
    const manifest = d[0];
    if (manifest?.kind !== 'manifest') throw new Error('no manifest');
    const escape = { ...manifest, record: { ...manifest.record, id: 'e', files: [{ path: '../e.img', size: 1, xxh64: '0000000000000000' }] } };
    expect((await rejection(importAll([escape]))).message).toMatch(/is not a plain relative path/);
    const link = { ...manifest, record: { ...manifest.record, id: 'l', files: [{ path: 'parent', size: 4, symlink: '/etc' }] } };
    expect((await rejection(importAll([link]))).message).toMatch(/symlink parent -> \/etc is not the parent link \.\.\/p2/);
    expect(fs.readdirSync(to.checkpointsDir).sort()).toEqual(['d', 'p2']);
  });
});
