import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { AgentError } from '../../src/errors';
import { CheckpointStore, MAX_ID_LENGTH, RECORD_FILE, validateCheckpointId } from '../../src/store';
import { checkpointRecord as record } from '../helpers/records';
import { agentRejection } from '../helpers/errors';

function thrown(fn: () => unknown): AgentError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AgentError);
  return caught as AgentError;
}

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('validateCheckpointId', () => {
  it.each(['a', 'web-1-2026-11-29', 'A_b.c-9', '_leading-underscore', '9lives', 'v1.2.3', 'a-', 'x'.repeat(MAX_ID_LENGTH)])(
    'accepts %j',
    (id) => {
      expect(validateCheckpointId(id)).toBe(id);
    },
  );

  it.each<[string, string, RegExp]>([
    ['empty', '', /^checkpoint_id is required/],
    ['129 characters', 'x'.repeat(MAX_ID_LENGTH + 1), /^checkpoint_id is 129 characters long; at most 128 are allowed$/],
    ['a slash', 'a/b', /is not a valid checkpoint id/],
    ['only a slash', '/', /is not a valid checkpoint id/],
    ['..', '..', /is not a valid checkpoint id/],
    ['.. inside', 'a..b', /is not a valid checkpoint id/],
    ['.. at the end', 'ab..', /is not a valid checkpoint id/],
    ['a leading dot', '.hidden', /is not a valid checkpoint id/],
    ["a leading .tmp- (the store's own prefix)", '.tmp-x', /is not a valid checkpoint id/],
    ['a leading dash', '-rf', /is not a valid checkpoint id/],
    ['NUL', 'a\0b', /is not a valid checkpoint id/],
    ['a newline', 'a\nb', /is not a valid checkpoint id/],
    ['a trailing newline', 'ab\n', /is not a valid checkpoint id/],
    ['a space', 'a b', /is not a valid checkpoint id/],
    ['non-ASCII letters', 'café', /is not a valid checkpoint id/],
    ['CJK', '日本', /is not a valid checkpoint id/],
    ['a backslash', 'a\\b', /is not a valid checkpoint id/],
  ])('rejects %s', (_name, id, message) => {
    const err = thrown(() => validateCheckpointId(id));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toMatch(message);
  });

  it('names the field it checks', () => {
    expect(thrown(() => validateCheckpointId('', 'parent_checkpoint_id')).message).toMatch(/^parent_checkpoint_id is required/);
    expect(thrown(() => validateCheckpointId('a/b', 'parent_checkpoint_id')).message).toMatch(/^parent_checkpoint_id "a\/b" is not/);
  });

  it('quotes at most 64 characters of a bad id', () => {
    const err = thrown(() => validateCheckpointId(`/${'y'.repeat(100)}`));
    expect(err.message).toContain(JSON.stringify(`/${'y'.repeat(63)}`));
    expect(err.message).not.toContain('y'.repeat(64));
  });
});

describe('CheckpointStore', () => {
  let tmp: string;
  let stateDir: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'store-test-'));
    stateDir = path.join(tmp, 'state');
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  describe('open', () => {
    it('creates stateDir, checkpoints/ and failed/ with mode 0700', async () => {
      const store = await CheckpointStore.open(stateDir);
      expect(store.stateDir).toBe(stateDir);
      expect(store.checkpointsDir).toBe(path.join(stateDir, 'checkpoints'));
      expect(store.failedDir).toBe(path.join(stateDir, 'failed'));
      for (const dir of [stateDir, store.checkpointsDir, store.failedDir]) {
        expect(statSync(dir).isDirectory()).toBe(true);
        expect(mode(dir)).toBe(0o700);
      }
    });

    it('resolves a relative stateDir', async () => {
      const rel = path.relative(process.cwd(), stateDir);
      const store = await CheckpointStore.open(rel);
      expect(store.stateDir).toBe(stateDir);
    });

    it('tightens an existing stateDir to 0700', async () => {
      mkdirSync(stateDir, { mode: 0o755 });
      await CheckpointStore.open(stateDir);
      expect(mode(stateDir)).toBe(0o700);
    });

    it('sweeps .tmp-* leftovers of a previous run and keeps everything else', async () => {
      const checkpoints = path.join(stateDir, 'checkpoints');
      mkdirSync(path.join(checkpoints, '.tmp-web-1-deadbeef', 'sub'), { recursive: true });
      writeFileSync(path.join(checkpoints, '.tmp-web-1-deadbeef', 'sub', 'pages-1.img'), 'x');
      writeFileSync(path.join(checkpoints, '.tmp-stray-file'), 'x');
      mkdirSync(path.join(checkpoints, 'kept'));
      writeFileSync(path.join(checkpoints, 'kept', RECORD_FILE), JSON.stringify(record('kept')));
      mkdirSync(path.join(checkpoints, '.other-hidden'));

      const store = await CheckpointStore.open(stateDir);
      expect(readdirSync(store.checkpointsDir).sort()).toEqual(['.other-hidden', 'kept']);
      expect(await store.get('kept')).toEqual(record('kept'));
    });

    it('is idempotent', async () => {
      const a = await CheckpointStore.open(stateDir);
      const pending = await a.create('one');
      await pending.commit(record('one'));
      const b = await CheckpointStore.open(stateDir);
      expect(await b.get('one')).toEqual(record('one'));
    });
  });

  describe('create / commit', () => {
    let store: CheckpointStore;
    beforeEach(async () => {
      store = await CheckpointStore.open(stateDir);
    });

    it('builds in a hidden sibling directory; the id appears only at commit', async () => {
      const pending = await store.create('web-1');
      expect(pending.id).toBe('web-1');
      expect(pending.finalDir).toBe(path.join(store.checkpointsDir, 'web-1'));
      // Same parent as the final dir (CRIU resolves "../<parent>" from the images dir).
      expect(path.dirname(pending.dir)).toBe(store.checkpointsDir);
      expect(path.basename(pending.dir)).toMatch(/^\.tmp-web-1-[0-9a-f]{8}$/);
      expect(mode(pending.dir)).toBe(0o700);

      writeFileSync(path.join(pending.dir, 'pages-1.img'), 'pages');
      writeFileSync(path.join(pending.dir, 'dump.log'), 'log');

      // Before commit: nothing by that id.
      expect(await store.get('web-1')).toBeNull();
      expect(existsSync(pending.finalDir)).toBe(false);
      expect(readdirSync(store.checkpointsDir)).toEqual([path.basename(pending.dir)]);

      const rec = record('web-1');
      const finalDir = await pending.commit(rec);
      expect(finalDir).toBe(pending.finalDir);
      expect(existsSync(pending.dir)).toBe(false);
      expect(readdirSync(store.checkpointsDir)).toEqual(['web-1']);
      expect(readdirSync(finalDir).sort()).toEqual([RECORD_FILE, 'dump.log', 'pages-1.img']);

      const recordPath = path.join(finalDir, RECORD_FILE);
      expect(JSON.parse(readFileSync(recordPath, 'utf8'))).toEqual(rec);
      expect(readFileSync(recordPath, 'utf8').endsWith('\n')).toBe(true);
      expect(mode(recordPath)).toBe(0o600);
      expect(await store.get('web-1')).toEqual(rec);
      expect(readFileSync(path.join(finalDir, 'pages-1.img'), 'utf8')).toBe('pages');
    });

    it('keeps optional record fields such as parentId', async () => {
      const rec = record('child', { parentId: 'pre-1', kind: 'dump', finalState: 'RUNNING' });
      await (await store.create('child')).commit(rec);
      expect(await store.get('child')).toEqual(rec);
    });

    it('refuses an id that already exists with already-exists', async () => {
      await (await store.create('taken')).commit(record('taken'));
      const err = await agentRejection(store.create('taken'));
      expect(err.kind).toBe('already-exists');
      expect(err.message).toContain('checkpoint taken already exists');
      expect(err.message).toContain(path.join(store.checkpointsDir, 'taken'));
      // No temporary directory was left behind.
      expect(readdirSync(store.checkpointsDir)).toEqual(['taken']);
    });

    it('refuses an id taken by an incomplete directory or a plain file too', async () => {
      mkdirSync(path.join(store.checkpointsDir, 'half'));
      writeFileSync(path.join(store.checkpointsDir, 'afile'), '');
      expect((await agentRejection(store.create('half'))).kind).toBe('already-exists');
      expect((await agentRejection(store.create('afile'))).kind).toBe('already-exists');
    });

    it('two pending checkpoints of one id get distinct temp dirs', async () => {
      const a = await store.create('same');
      const b = await store.create('same');
      expect(a.dir).not.toBe(b.dir);
      await a.discard();
      await b.discard();
    });

    it('commit reports already-exists and cleans up when the id appeared meanwhile', async () => {
      const pending = await store.create('racy');
      writeFileSync(path.join(pending.dir, 'dump.log'), 'log');
      mkdirSync(pending.finalDir);
      writeFileSync(path.join(pending.finalDir, 'other.img'), 'someone else');
      const err = await agentRejection(pending.commit(record('racy')));
      expect(err.kind).toBe('already-exists');
      expect(existsSync(pending.dir)).toBe(false);
      expect(readdirSync(pending.finalDir)).toEqual(['other.img']);
    });

    it('validates ids', async () => {
      expect((await agentRejection(store.create('../escape'))).kind).toBe('invalid-argument');
      expect((await agentRejection(store.get('.tmp-x'))).kind).toBe('invalid-argument');
      expect(() => store.pathOf('a/b')).toThrow(AgentError);
      expect(store.pathOf('ok')).toBe(path.join(store.checkpointsDir, 'ok'));
    });
  });

  describe('discard', () => {
    let store: CheckpointStore;
    beforeEach(async () => {
      store = await CheckpointStore.open(stateDir);
    });

    it('moves the log to failed/ and removes the temp dir', async () => {
      const pending = await store.create('broken');
      writeFileSync(path.join(pending.dir, 'dump.log'), '(00.000001) Error (criu/x.c:1): boom\n');
      writeFileSync(path.join(pending.dir, 'pages-1.img'), 'partial');

      const kept = await pending.discard('dump.log');
      expect(kept).toBeDefined();
      expect(path.dirname(kept ?? '')).toBe(store.failedDir);
      // <checkpoint id>-<the log's own name>, which carries the request id (dump-<request id>.log; none in this direct call).
      expect(path.basename(kept ?? '')).toBe('broken-dump.log');
      expect(readFileSync(kept ?? '', 'utf8')).toBe('(00.000001) Error (criu/x.c:1): boom\n');
      expect(existsSync(pending.dir)).toBe(false);
      expect(existsSync(pending.finalDir)).toBe(false);
      expect(readdirSync(store.checkpointsDir)).toEqual([]);
      expect(await store.get('broken')).toBeNull();
    });

    it('returns undefined when there is no log to keep, and still removes the temp dir', async () => {
      const a = await store.create('nolog');
      expect(await a.discard('dump.log')).toBeUndefined();
      expect(existsSync(a.dir)).toBe(false);
      const b = await store.create('nolog');
      writeFileSync(path.join(b.dir, 'dump.log'), 'x');
      expect(await b.discard()).toBeUndefined();
      expect(existsSync(b.dir)).toBe(false);
      expect(readdirSync(store.failedDir)).toEqual([]);
    });

    it('lets the id be used again', async () => {
      await (await store.create('again')).discard();
      await (await store.create('again')).commit(record('again'));
      expect(await store.get('again')).toEqual(record('again'));
    });
  });

  describe('get', () => {
    let store: CheckpointStore;
    beforeEach(async () => {
      store = await CheckpointStore.open(stateDir);
    });

    it('is null for an unknown id', async () => {
      expect(await store.get('nope')).toBeNull();
    });

    it('is null for a directory without checkpoint.json', async () => {
      mkdirSync(path.join(store.checkpointsDir, 'incomplete'));
      writeFileSync(path.join(store.checkpointsDir, 'incomplete', 'pages-1.img'), 'x');
      expect(await store.get('incomplete')).toBeNull();
    });

    it('is null for a non-directory by that id', async () => {
      writeFileSync(path.join(store.checkpointsDir, 'plainfile'), JSON.stringify(record('plainfile')));
      expect(await store.get('plainfile')).toBeNull();
    });

    it('reports an unreadable record as data-loss', async () => {
      mkdirSync(path.join(store.checkpointsDir, 'corrupt'));
      writeFileSync(path.join(store.checkpointsDir, 'corrupt', RECORD_FILE), '{ "id": "corr');
      const err = await agentRejection(store.get('corrupt'));
      expect(err.kind).toBe('data-loss');
      expect(err.message).toContain('checkpoint corrupt at ');
    });
  });
});
