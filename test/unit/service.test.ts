import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { AgentConfig } from '../../src/config';
import type { CriuClient, CriuFeatures, CriuRun, CriuVersion } from '../../src/criu/client';
import { AgentError } from '../../src/errors';
import { GpuDriverDouble } from '../../src/gpu/double';
import { pidInUse, readProcess, snapshotTree, treeStatus, waitForTreeStatus } from '../../src/proctree';
import { parseListenAddress } from '../../src/listenAddress';
import { createServices, type DumpParams, type Services } from '../../src/service';
import { CheckpointStore, RECORD_FILE, type CheckpointRecord } from '../../src/store';
import { digestDirectory } from '../../src/store/digest';
import { checkpointRecord } from '../helpers/records';
import { agentRejection } from '../helpers/errors';

// ---------------------------------------------------------------------------
// A CriuClient that records what it is asked and does what each test says.

type Op = 'dump' | 'preDump' | 'restore';
type Impl = (run: CriuRun) => void | Promise<void>;

class FakeCriu implements CriuClient {
  readonly description = 'fake criu (tests)';
  readonly calls: { op: Op; run: CriuRun }[] = [];
  features_: CriuFeatures = { memTrack: true, lazyPages: false, pidfdStore: true };
  featureCalls = 0;
  versionCalls = 0;
  /** What dump/preDump do after recording the call; default: write an image and a log. */
  onDump: Impl = (run) => writeImages(run);
  onPreDump: Impl = (run) => writeImages(run);
  onRestore: (run: CriuRun) => Promise<{ pid: number }> = () => Promise.reject(new Error('restore not expected'));
  /** A CRIU that restores without sending post-restore (none does; the agent must not trust one). */
  skipCommit = false;

  version(): Promise<CriuVersion> {
    this.versionCalls++;
    return Promise.resolve({ major: 4, minor: 2, sublevel: 1, gitid: 'fake', text: '4.2.1' });
  }

  features(): Promise<CriuFeatures> {
    this.featureCalls++;
    return Promise.resolve({ ...this.features_ });
  }

  /** Like CRIU: the images are written (onDump), then post-dump (atCommit). */
  async dump(run: CriuRun): Promise<void> {
    this.calls.push({ op: 'dump', run });
    await this.onDump(run);
    await run.atCommit?.();
  }

  async preDump(run: CriuRun): Promise<void> {
    this.calls.push({ op: 'preDump', run });
    await this.onPreDump(run);
  }

  /** Like CRIU: the tree is rebuilt (onRestore), then post-restore (atCommit); a refusal there kills the tree. */
  async restore(run: CriuRun): Promise<{ pid: number }> {
    this.calls.push({ op: 'restore', run });
    const restored = await this.onRestore(run);
    try {
      if (!this.skipCommit) await run.atCommit?.();
    } catch (err) {
      killQuietly(restored.pid, 'SIGKILL');
      throw err;
    }
    return restored;
  }

  only(op: Op): CriuRun {
    expect(this.calls.map((c) => c.op)).toEqual([op]);
    const run = this.calls[0]?.run;
    if (!run) throw new Error('no call');
    return run;
  }
}

function writeImages(run: CriuRun): void {
  writeFileSync(path.join(run.imagesDir, 'pages-1.img'), 'pages');
  writeFileSync(path.join(run.imagesDir, run.logFile), '(00.000001) fake CRIU log\n');
}

// ---------------------------------------------------------------------------
// Real, harmless target processes.

const children = new Set<ChildProcess>();

/** Starts `sleep 1000` in its own session (detached, stdio ignored) and waits until it runs. */
async function startSleeper(): Promise<number> {
  const child = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
  children.add(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('no pid');
  // Wait until it is `sleep` (exec done), not the forked node.
  const deadline = Date.now() + 5000;
  while ((await readProcess(pid))?.comm !== 'sleep') {
    if (Date.now() > deadline) throw new Error(`pid ${pid} did not become sleep`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return pid;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

async function status(pid: number): Promise<string> {
  return treeStatus(await snapshotTree(pid));
}

async function expectStatus(pid: number, want: 'running' | 'stopped' | 'gone'): Promise<void> {
  const { status: got } = await waitForTreeStatus(pid, want, 3000);
  expect(got).toBe(want);
}

/** A pid nothing uses right now (for checkpoint records that restore must find free). */
async function freePid(): Promise<number> {
  const max = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let pid = max - 1; pid > max - 1000; pid--) if (!(await pidInUse(pid))) return pid;
  throw new Error('no free pid');
}

// ---------------------------------------------------------------------------

let tmp: string;
let config: AgentConfig;
let store: CheckpointStore;
let criu: FakeCriu;
let services: Services;

beforeEach(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'service-test-'));
  config = Object.freeze({
    listeners: [parseListenAddress('unix:/nonexistent/agent.sock')],
    stateDir: tmp,
    criuPath: '/nonexistent/criu',
    maxConcurrentOperations: 2,
    retainMaxCount: 0,
    retainMaxBytes: 0,
    socketMode: 0o600,
    criuLogLevel: 3,
    pidWaitMs: 200,
    logLevel: 'error' as const,
  });
  store = await CheckpointStore.open(tmp);
  criu = new FakeCriu();
  services = createServices({ config, criu, store });
});

afterEach(async () => {
  for (const child of children) {
    if (child.pid !== undefined) {
      killQuietly(child.pid, 'SIGKILL');
      killQuietly(child.pid, 'SIGCONT');
    }
  }
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }
  children.clear();
  rmSync(tmp, { recursive: true, force: true });
});

function dumpParams(pid: number, over: Partial<DumpParams> = {}): DumpParams {
  return { pid, checkpointId: 'ckpt-1', requested: 'RUNNING', parentId: '', options: {}, ...over };
}

const checkpointEntries = (): string[] => readdirSync(store.checkpointsDir);

async function commitRecord(id: string, over: Partial<CheckpointRecord>): Promise<void> {
  const pending = await store.create(id);
  await pending.commit(checkpointRecord(id, { createdAt: new Date().toISOString(), ...over }));
}

/** Makes the fake CRIU's dumps wait: `inside` resolves once one has started, `release` lets them finish. */
function holdDumps(): { inside: Promise<void>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  criu.onDump = async (run) => {
    writeImages(run);
    entered();
    await gate;
  };
  return { inside, release };
}

describe('Dump', () => {
  it(
    'UNSPECIFIED means DEAD: no leave_running/leave_stopped is passed; as the fake does not kill the tree, ' +
      'final-state verification fails with aborted ("running instead of DEAD", changed from outside), and the checkpoint is kept',
    async () => {
      const pid = await startSleeper();
      const err = await agentRejection(services.dump.dump(dumpParams(pid, { requested: 'UNSPECIFIED' })));

      const run = criu.only('dump');
      expect('leave_running' in run.opts).toBe(false);
      expect('leave_stopped' in run.opts).toBe(false);
      expect(err.kind).toBe('aborted');
      expect(err.message).toContain(`the tree of pid ${pid} is running instead of DEAD`);
      const finalDir = path.join(store.checkpointsDir, 'ckpt-1');
      expect(err.message).toContain(`checkpoint ckpt-1 is complete and kept at ${finalDir}`);
      const rec = await store.get('ckpt-1');
      expect(rec).toMatchObject({ id: 'ckpt-1', kind: 'dump', pid, finalState: 'DEAD' });
      expect(await status(pid)).toBe('running');
    },
    15000,
  );

  it('UNSPECIFIED succeeds with DEAD when CRIU kills the tree', async () => {
    const pid = await startSleeper();
    criu.onDump = (run) => {
      writeImages(run);
      process.kill(pid, 'SIGKILL');
    };
    const r = await services.dump.dump(dumpParams(pid, { requested: 'UNSPECIFIED' }));
    expect(r.finalState).toBe('DEAD');
    expect(r.finalStateIgnored).toBe(false);
    expect((await store.get('ckpt-1'))?.finalState).toBe('DEAD');
  });

  // Seen in CI: CRIU, killed after post-dump while it killed a DEAD tree
  // itself (the root first), left the children orphaned: out of the root's
  // tree, they ran on after a Dump that answered DEAD.
  it('DEAD, CRIU dying after post-dump having killed only the root: the orphaned children are killed too, the Dump answers DEAD', async () => {
    const root = spawn('sh', ['-c', 'sleep 1000 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    children.add(root);
    const child = Number(await new Promise<string>((resolve) => root.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim()))));
    const pid = root.pid ?? 0;
    await waitForTreeStatus(pid, 'running', 3000);
    criu.dump = async (run) => {
      writeImages(run);
      await run.atCommit?.();
      process.kill(pid, 'SIGKILL');
      throw new AgentError('internal', 'CRIU dump failed: criu swrk was killed by SIGKILL before replying');
    };
    const r = await services.dump.dump(dumpParams(pid, { requested: 'DEAD' }));
    expect(r.finalState).toBe('DEAD');
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      alive = (await readProcess(child).catch(() => null))?.tasks.some((t) => t.state !== 'zombie' && t.state !== 'dead') ?? false;
      if (alive) await new Promise((res) => setTimeout(res, 20));
    }
    if (alive) process.kill(child, 'SIGKILL');
    expect(alive).toBe(false);
  });

  it('RUNNING passes leave_running and writes checkpoint.json (kind dump, pids, criuVersion from CRIU)', async () => {
    const pid = await startSleeper();
    let imagesDirDuringCall = '';
    criu.onDump = async (run) => {
      imagesDirDuringCall = run.imagesDir;
      // CRIU writes into a hidden temporary directory; the id does not exist yet.
      expect(await store.get('ckpt-1')).toBeNull();
      writeImages(run);
    };
    const r = await services.dump.dump(dumpParams(pid, { requested: 'RUNNING', options: { shell_job: true, tcp_established: true } }));

    const run = criu.only('dump');
    expect(run.opts).toMatchObject({
      pid,
      leave_running: true,
      log_level: 3,
      notify_scripts: true,
      shell_job: true,
      tcp_established: true,
    });
    expect('leave_stopped' in run.opts).toBe(false);
    expect('track_mem' in run.opts).toBe(false);
    expect('parent_img' in run.opts).toBe(false);
    expect(run.logFile).toBe('dump.log');
    expect(path.dirname(imagesDirDuringCall)).toBe(store.checkpointsDir);
    expect(path.basename(imagesDirDuringCall)).toMatch(/^\.tmp-ckpt-1-/);

    const finalDir = path.join(store.checkpointsDir, 'ckpt-1');
    expect(r).toEqual({
      checkpointId: 'ckpt-1',
      finalState: 'RUNNING',
      finalStateIgnored: false,
      imagesDir: finalDir,
      pids: [pid],
      logPath: path.join(finalDir, 'dump.log'),
      // The fake writes a 5-byte log and no stats-dump.
      sizeBytes: expect.any(Number) as number,
      stats: undefined,
      gpu: [], // a CPU tree: no GPU steps
    });
    const rec = JSON.parse(readFileSync(path.join(finalDir, RECORD_FILE), 'utf8')) as CheckpointRecord;
    expect(rec).toMatchObject({
      id: 'ckpt-1',
      kind: 'dump',
      pid,
      pids: [pid],
      criuVersion: '4.2.1',
      kernel: os.release(),
      finalState: 'RUNNING',
      logFile: 'dump.log',
    });
    expect(rec.parentId).toBeUndefined();
    expect(Number.isNaN(Date.parse(rec.createdAt))).toBe(false);
    expect(readdirSync(finalDir).sort()).toEqual([RECORD_FILE, 'dump.log', 'pages-1.img']);
    expect(checkpointEntries()).toEqual(['ckpt-1']);
    expect(await status(pid)).toBe('running');
  });

  it('STOPPED passes leave_stopped and succeeds once CRIU left the tree stopped', async () => {
    const pid = await startSleeper();
    criu.onDump = (run) => {
      writeImages(run);
      process.kill(pid, 'SIGSTOP'); // what CRIU does with --leave-stopped
    };
    const r = await services.dump.dump(dumpParams(pid, { requested: 'STOPPED' }));
    const run = criu.only('dump');
    expect(run.opts.leave_stopped).toBe(true);
    expect('leave_running' in run.opts).toBe(false);
    expect(r.finalState).toBe('STOPPED');
    expect((await store.get('ckpt-1'))?.finalState).toBe('STOPPED');
    expect(await status(pid)).toBe('stopped');
  });

  it('builds on a pre-dump parent with parent_img ../<parent>', async () => {
    const pid = await startSleeper();
    await commitRecord('pre-1', { kind: 'pre-dump', pid, pids: [pid], finalState: 'RUNNING', logFile: 'pre-dump.log' });
    await services.dump.dump(dumpParams(pid, { parentId: 'pre-1' }));
    expect(criu.only('dump').opts.parent_img).toBe('../pre-1');
    expect((await store.get('ckpt-1'))?.parentId).toBe('pre-1');
  });

  it('refuses a missing parent (not-found) and a parent that is a full dump (failed-precondition)', async () => {
    const pid = await startSleeper();
    expect((await agentRejection(services.dump.dump(dumpParams(pid, { parentId: 'nope' })))).kind).toBe('not-found');
    await commitRecord('full', { kind: 'dump', pid, pids: [pid] });
    const err = await agentRejection(services.dump.dump(dumpParams(pid, { parentId: 'full' })));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain('only a PreDump can be built on');
    expect(criu.calls).toEqual([]);
  });

  it('a CRIU failure leaves no checkpoint directory and moves the log to failed/', async () => {
    const pid = await startSleeper();
    let tmpLog = '';
    criu.onDump = (run) => {
      tmpLog = path.join(run.imagesDir, run.logFile);
      writeFileSync(tmpLog, '(00.1) Error (criu/x.c:1): fake failure\n');
      writeFileSync(path.join(run.imagesDir, 'pages-1.img'), 'partial');
      return Promise.reject(
        new AgentError('internal', `CRIU dump failed; CRIU said: fake failure (criu/x.c:1); full log: ${tmpLog}`, {
          details: { criuErrno: 5, criuLog: tmpLog },
        }),
      );
    };
    const err = await agentRejection(services.dump.dump(dumpParams(pid)));
    expect(err.kind).toBe('internal');
    expect(checkpointEntries()).toEqual([]);
    expect(await store.get('ckpt-1')).toBeNull();

    const failed = readdirSync(store.failedDir);
    expect(failed).toHaveLength(1);
    const kept = path.join(store.failedDir, failed[0] ?? '');
    // <checkpoint id>-<the log's own name> (no request id in this direct call: dump.log).
    expect(path.basename(kept)).toBe('ckpt-1-dump.log');
    expect(readFileSync(kept, 'utf8')).toContain('fake failure');
    // The error points at where the log is now.
    expect(err.details).toEqual({ criuErrno: 5, criuLog: kept });
    expect(err.message).toContain(`full log: ${kept}`);
    expect(err.message).not.toContain(tmpLog);
    // The tree was left running.
    expect(await status(pid)).toBe('running');
  });

  // Regression: when CRIU fails without having written its log (e.g. the worker died before
  // opening it), discard() has nothing to move and withLogMoved leaves the
  // error as it was, so its message ("full log: ...") and details.criuLog
  // (sent as criu-log metadata) name a file in the temporary directory that
  // discard() has just deleted.
  it('an error never points at a log inside the deleted temporary directory', async () => {
    const pid = await startSleeper();
    let tmpLog = '';
    criu.onDump = (run) => {
      tmpLog = path.join(run.imagesDir, run.logFile);
      return Promise.reject(
        new AgentError('internal', `CRIU dump failed: criu swrk (pid 1) exited with code 1 before replying (closed); full log: ${tmpLog}`, {
          details: { criuLog: tmpLog },
        }),
      );
    };
    const err = await agentRejection(services.dump.dump(dumpParams(pid)));
    expect(existsSync(tmpLog)).toBe(false);
    expect(err.message).not.toContain(tmpLog);
    expect(err.details.criuLog).toBeUndefined();
  });

  it('a non-AgentError from CRIU is passed on and still cleans up', async () => {
    const pid = await startSleeper();
    criu.onDump = () => Promise.reject(new Error('socket exploded'));
    await expect(services.dump.dump(dumpParams(pid))).rejects.toThrow('socket exploded');
    expect(checkpointEntries()).toEqual([]);
  });

  it('resumes a tree CRIU left stopped when it died half-way', async () => {
    const pid = await startSleeper();
    criu.onDump = async (run) => {
      writeImages(run);
      process.kill(pid, 'SIGSTOP');
      await expectStatus(pid, 'stopped');
      throw new AgentError('internal', 'CRIU dump failed: criu swrk (pid 1) was killed by SIGKILL before replying');
    };
    const err = await agentRejection(services.dump.dump(dumpParams(pid)));
    expect(err.kind).toBe('internal');
    await expectStatus(pid, 'running');
    expect(checkpointEntries()).toEqual([]);
  });

  it('leaves a tree that was stopped before the failed dump stopped', async () => {
    const pid = await startSleeper();
    process.kill(pid, 'SIGSTOP');
    await expectStatus(pid, 'stopped');
    criu.onDump = () => Promise.reject(new AgentError('internal', 'boom'));
    await agentRejection(services.dump.dump(dumpParams(pid)));
    // Give a wrong SIGCONT a moment to land before looking.
    await new Promise((r) => setTimeout(r, 100));
    expect(await status(pid)).toBe('stopped');
  });

  it('rejects with the abort reason at once when cancelled during CRIU; cleans up once CRIU has rolled back, holding the lock till then', async () => {
    const pid = await startSleeper();
    const controller = new AbortController();
    const reason = new AgentError('cancelled', 'Dump: the client cancelled the call');
    let rollBack!: () => void;
    const rolledBack = new Promise<void>((r) => (rollBack = r));
    criu.onDump = async (run) => {
      writeImages(run);
      controller.abort(reason);
      // The client stops CRIU at its next notification: that takes a while.
      await rolledBack;
      throw reason;
    };
    const err = await agentRejection(services.dump.dump(dumpParams(pid, { checkpointId: 'c1' }), controller.signal, 'req-c1'));
    expect(err.kind).toBe('cancelled');
    expect(err.message).toBe(reason.message);
    // Answered while CRIU still works: the tree stays locked, the partial checkpoint is still there.
    expect(checkpointEntries().filter((n) => n.startsWith('.tmp-c1-'))).toHaveLength(1);
    expect((await agentRejection(services.dump.dump(dumpParams(pid, { checkpointId: 'c2' })))).message).toContain(`pid ${pid} is busy`);
    // A retry with the same request id waits for the first to end (cleaned
    // up, lock released), then runs anew, as the first left no checkpoint.
    const retry = services.dump.dump(dumpParams(pid, { checkpointId: 'c1', requested: 'RUNNING' }), undefined, 'req-c1');
    await new Promise((r) => setTimeout(r, 20));
    expect(criu.calls).toHaveLength(1);
    criu.onDump = (run) => writeImages(run);
    rollBack();
    await expect(retry).resolves.toMatchObject({ checkpointId: 'c1' });
    expect(criu.calls).toHaveLength(2);
    expect(checkpointEntries().filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(await status(pid)).toBe('running');
  });

  it('a retry with the request id of a Dump that completed returns its result instead of ALREADY_EXISTS', async () => {
    const pid = await startSleeper();
    const first = await services.dump.dump(dumpParams(pid, { checkpointId: 'r1', requested: 'RUNNING' }), undefined, 'client-req-1');
    const again = await services.dump.dump(dumpParams(pid, { checkpointId: 'r1', requested: 'RUNNING' }), undefined, 'client-req-1');
    expect(again).toEqual(first);
    expect(criu.calls).toHaveLength(1);
    expect((await store.get('r1'))?.requestId).toBe('client-req-1');
    // Another request id (or none) for the same checkpoint id is still ALREADY_EXISTS.
    expect(
      (await agentRejection(services.dump.dump(dumpParams(pid, { checkpointId: 'r1', requested: 'RUNNING' }), undefined, 'other'))).kind,
    ).toBe('already-exists');
    expect((await agentRejection(services.dump.dump(dumpParams(pid, { checkpointId: 'r1', requested: 'RUNNING' })))).kind).toBe(
      'already-exists',
    );
  });

  it('a Dump cancelled after CRIU passed its last point of return completes: the checkpoint is kept and a retry gets it', async () => {
    const pid = await startSleeper();
    const controller = new AbortController();
    const reason = new AgentError('deadline-exceeded', "Dump: the call's deadline passed");
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    criu.onDump = async (run) => {
      writeImages(run);
      controller.abort(reason);
      await finished; // CRIU had been answered post-dump: it completes
    };
    const err = await agentRejection(
      services.dump.dump(dumpParams(pid, { checkpointId: 'late', requested: 'RUNNING' }), controller.signal, 'req-late'),
    );
    expect(err.kind).toBe('deadline-exceeded');
    finish();
    const retry = await services.dump.dump(dumpParams(pid, { checkpointId: 'late', requested: 'RUNNING' }), undefined, 'req-late');
    expect(retry).toMatchObject({ checkpointId: 'late', finalState: 'RUNNING' });
    expect(criu.calls).toHaveLength(1);
  });

  it('a second dump of the same pid while one runs is aborted', async () => {
    const pid = await startSleeper();
    const { inside, release } = holdDumps();
    const first = services.dump.dump(dumpParams(pid, { checkpointId: 'first' }));
    await inside;
    const err = await agentRejection(services.dump.dump(dumpParams(pid, { checkpointId: 'second' })));
    expect(err.kind).toBe('aborted');
    expect(err.message).toContain(`pid ${pid} is busy`);
    expect(err.message).toContain('dump of pid');
    // Same for a pre-dump and a continue of that pid.
    expect((await agentRejection(services.dump.preDump(dumpParams(pid, { checkpointId: 'third' })))).kind).toBe('aborted');
    expect((await agentRejection(services.continue.continue(pid))).kind).toBe('aborted');
    release();
    await expect(first).resolves.toMatchObject({ checkpointId: 'first' });
    expect(criu.calls).toHaveLength(1);
    expect(await store.get('second')).toBeNull();
    // The lock is released afterwards.
    await expect(services.dump.dump(dumpParams(pid, { checkpointId: 'fourth' }))).resolves.toMatchObject({ checkpointId: 'fourth' });
  });

  it('a second dump into the same checkpoint id (another pid) while one runs is aborted', async () => {
    const a = await startSleeper();
    const b = await startSleeper();
    const { inside, release } = holdDumps();
    const first = services.dump.dump(dumpParams(a, { checkpointId: 'shared' }));
    await inside;
    const err = await agentRejection(services.dump.dump(dumpParams(b, { checkpointId: 'shared' })));
    expect(err.kind).toBe('aborted');
    expect(err.message).toContain('checkpoint shared is busy');
    release();
    await first;
  });

  it('refuses an existing checkpoint id with already-exists before calling CRIU', async () => {
    const pid = await startSleeper();
    await services.dump.dump(dumpParams(pid));
    const err = await agentRejection(services.dump.dump(dumpParams(pid)));
    expect(err.kind).toBe('already-exists');
    expect(criu.calls).toHaveLength(1);
  });

  it('validates ids: bad checkpoint_id and parent_checkpoint_id are invalid-argument', async () => {
    const pid = await startSleeper();
    const bad = await agentRejection(services.dump.dump(dumpParams(pid, { checkpointId: '../x' })));
    expect(bad.kind).toBe('invalid-argument');
    const badParent = await agentRejection(services.dump.dump(dumpParams(pid, { parentId: 'a/b' })));
    expect(badParent.kind).toBe('invalid-argument');
    expect(badParent.message).toMatch(/^parent_checkpoint_id/);
    expect(criu.calls).toEqual([]);
  });

  it('a pid that does not exist is not-found', async () => {
    const err = await agentRejection(services.dump.dump(dumpParams(await freePid())));
    expect(err.kind).toBe('not-found');
    expect(checkpointEntries()).toEqual([]);
  });

  it('a zombie is failed-precondition', async () => {
    // sh forks `true` and execs sleep, which never reaps it: `true` stays a zombie.
    const child = spawn('sh', ['-c', 'true & exec sleep 1000'], { detached: true, stdio: 'ignore' });
    children.add(child);
    const parent = child.pid ?? 0;
    let zombie = 0;
    const deadline = Date.now() + 5000;
    while (!zombie && Date.now() < deadline) {
      const snap = await snapshotTree(parent);
      const z = snap?.processes.find((p) => p.pid !== parent && p.tasks.every((t) => t.state === 'zombie'));
      if (z) zombie = z.pid;
      else await new Promise((r) => setTimeout(r, 20));
    }
    expect(zombie).toBeGreaterThan(0);
    const err = await agentRejection(services.dump.dump(dumpParams(zombie)));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain('zombie');
  });
});

describe('PreDump', () => {
  it('without kernel memory tracking is failed-precondition naming CONFIG_MEM_SOFT_DIRTY, and leaves no checkpoint', async () => {
    const pid = await startSleeper();
    criu.features_ = { memTrack: false, lazyPages: false, pidfdStore: false };
    const err = await agentRejection(services.dump.preDump(dumpParams(pid, { checkpointId: 'pre-1' })));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain('CONFIG_MEM_SOFT_DIRTY');
    expect(criu.calls).toEqual([]);
    expect(checkpointEntries()).toEqual([]);
    expect(existsSync(path.join(store.checkpointsDir, 'pre-1'))).toBe(false);
  });

  it('with memory tracking sends a single pre-dump with track_mem; STOPPED is ignored (tree keeps running)', async () => {
    const pid = await startSleeper();
    const r = await services.dump.preDump(dumpParams(pid, { checkpointId: 'pre-1', requested: 'STOPPED' }));
    const run = criu.only('preDump');
    expect(run.opts).toMatchObject({ pid, track_mem: true, log_level: 3, notify_scripts: true });
    expect('leave_stopped' in run.opts).toBe(false);
    expect('leave_running' in run.opts).toBe(false);
    expect(run.logFile).toBe('pre-dump.log');
    expect(r).toMatchObject({ checkpointId: 'pre-1', finalState: 'RUNNING', finalStateIgnored: true, pids: [pid] });
    expect(r.logPath).toBe(path.join(store.checkpointsDir, 'pre-1', 'pre-dump.log'));
    expect(await store.get('pre-1')).toMatchObject({
      kind: 'pre-dump',
      finalState: 'RUNNING',
      logFile: 'pre-dump.log',
      criuVersion: '4.2.1',
    });
    expect(await status(pid)).toBe('running');
  });

  it('RUNNING is not reported as ignored', async () => {
    const pid = await startSleeper();
    const r = await services.dump.preDump(dumpParams(pid, { checkpointId: 'pre-1', requested: 'RUNNING' }));
    expect(r.finalStateIgnored).toBe(false);
  });

  it('asks CRIU for features once and for the version once', async () => {
    const pid = await startSleeper();
    await services.dump.preDump(dumpParams(pid, { checkpointId: 'pre-1' }));
    await services.dump.preDump(dumpParams(pid, { checkpointId: 'pre-2', parentId: 'pre-1' }));
    expect(criu.featureCalls).toBe(1);
    expect(criu.versionCalls).toBe(1);
    expect(criu.calls[1]?.run.opts.parent_img).toBe('../pre-1');
  });
  // Regression: the cached FEATURE_CHECK/VERSION promise is shared by every
  // concurrent caller, so it must not carry the first caller's signal. If that first call is cancelled, CRIU's
  // FEATURE_CHECK (or VERSION) is aborted with its reason and every other
  // PreDump waiting on the same promise fails with the first caller's
  // CANCELLED/DEADLINE_EXCEEDED although its own client did not cancel.
  it("one caller's cancellation does not fail a concurrent PreDump sharing the feature check", async () => {
    const a = await startSleeper();
    const b = await startSleeper();
    criu.features = (signal?: AbortSignal): Promise<CriuFeatures> => {
      criu.featureCalls++;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => resolve({ memTrack: true, lazyPages: false, pidfdStore: false }), 200);
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(signal.reason as Error);
        });
      });
    };
    const ca = new AbortController();
    const pa = agentRejection(services.dump.preDump(dumpParams(a, { checkpointId: 'a' }), ca.signal));
    const pb = services.dump.preDump(dumpParams(b, { checkpointId: 'b' }), new AbortController().signal);
    setTimeout(() => ca.abort(new AgentError('cancelled', 'PreDump: the client cancelled the call')), 50);
    expect((await pa).kind).toBe('cancelled');
    await expect(pb).resolves.toMatchObject({ checkpointId: 'b' });
  });
});

describe('Restore', () => {
  /** The fake CRIU rebuilds "the tree" as a sleeper; the result gives its pid once it started. */
  function rebuildsSleeper(): () => number {
    let pid = 0;
    criu.onRestore = async () => {
      pid = await startSleeper();
      return { pid };
    };
    return () => pid;
  }

  it('of a pre-dump is failed-precondition', async () => {
    await commitRecord('pre-1', { kind: 'pre-dump', pid: 4242, pids: [4242], finalState: 'RUNNING' });
    const err = await agentRejection(services.restore.restore({ checkpointId: 'pre-1', requested: 'RUNNING', options: {} }));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain('pre-dump');
    expect(criu.calls).toEqual([]);
  });

  it('with final state DEAD is invalid-argument', async () => {
    await commitRecord('d', { pid: 4242, pids: [4242] });
    const err = await agentRejection(services.restore.restore({ checkpointId: 'd', requested: 'DEAD', options: {} }));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('DEAD is not valid for Restore');
    expect(criu.calls).toEqual([]);
  });

  it('of an unknown checkpoint is not-found; of a bad id invalid-argument', async () => {
    expect((await agentRejection(services.restore.restore({ checkpointId: 'nope', requested: 'RUNNING', options: {} }))).kind).toBe(
      'not-found',
    );
    expect((await agentRejection(services.restore.restore({ checkpointId: '.x', requested: 'RUNNING', options: {} }))).kind).toBe(
      'invalid-argument',
    );
  });

  it('refuses while a pid of the tree is in use (already-exists), after waiting pidWaitMs', async () => {
    const busy = await startSleeper();
    await commitRecord('d', { pid: busy, pids: [busy] });
    const started = Date.now();
    const err = await agentRejection(services.restore.restore({ checkpointId: 'd', requested: 'RUNNING', options: {} }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(err.kind).toBe('already-exists');
    expect(err.message).toContain(`pid ${busy} of its tree is in use by sleep`);
    expect(criu.calls).toEqual([]);
  });

  it('RUNNING restores from the checkpoint directory and verifies the restored tree runs', async () => {
    const old = await freePid();
    await commitRecord('d', { pid: old, pids: [old] });
    let restored = 0;
    criu.onRestore = async () => {
      restored = await startSleeper(); // stands in for the restored tree
      return { pid: restored };
    };
    const r = await services.restore.restore({
      checkpointId: 'd',
      requested: 'UNSPECIFIED',
      options: { tcp_established: true, weak_sysctls: true },
    });
    const run = criu.only('restore');
    expect(run.imagesDir).toBe(path.join(store.checkpointsDir, 'd'));
    expect(run.logFile).toBe('restore.log'); // restore-<request id>.log; this direct call has none
    expect(run.opts).toMatchObject({ log_level: 3, notify_scripts: true, tcp_established: true, weak_sysctls: true });
    expect('leave_stopped' in run.opts).toBe(false);
    expect(r).toEqual({
      pid: restored,
      finalState: 'RUNNING',
      checkpointId: 'd',
      pids: [restored],
      logPath: path.join(run.imagesDir, run.logFile),
      gpu: [], // a CPU tree: no GPU steps
    });
  });

  it('STOPPED passes leave_stopped and verifies the restored tree is stopped', async () => {
    const old = await freePid();
    await commitRecord('d', { pid: old, pids: [old] });
    criu.onRestore = async () => {
      const pid = await startSleeper();
      process.kill(pid, 'SIGSTOP');
      return { pid };
    };
    const r = await services.restore.restore({ checkpointId: 'd', requested: 'STOPPED', options: {} });
    expect(criu.only('restore').opts.leave_stopped).toBe(true);
    expect(r.finalState).toBe('STOPPED');
    expect(await status(r.pid)).toBe('stopped');
  });

  it('hashes the page images while CRIU restores: damage is data-loss at post-restore and the rebuilt tree is killed', async () => {
    const old = await freePid();
    const pending = await store.create('d');
    writeFileSync(path.join(pending.dir, 'pages-1.img'), Buffer.alloc(1 << 20, 7));
    writeFileSync(path.join(pending.dir, 'core-1.img'), 'core');
    const files = await digestDirectory(pending.dir);
    await pending.commit(checkpointRecord('d', { createdAt: new Date().toISOString(), pid: old, pids: [old], files }));
    writeFileSync(path.join(store.checkpointsDir, 'd', 'pages-1.img'), Buffer.alloc(1 << 20, 8)); // same size, other bytes
    const restored = rebuildsSleeper();
    const err = await agentRejection(services.restore.restore({ checkpointId: 'd', requested: 'RUNNING', options: {} }));
    expect(err.kind).toBe('data-loss');
    expect(err.message).toMatch(/does not match its recorded digest \(1 problem\): pages-1\.img: content differs/);
    expect(criu.calls).toHaveLength(1); // CRIU ran: the pages were not read before it
    await expectStatus(restored(), 'gone');

    // A damaged core image (parsed by CRIU) is still refused before CRIU starts.
    writeFileSync(path.join(store.checkpointsDir, 'd', 'pages-1.img'), Buffer.alloc(1 << 20, 7));
    writeFileSync(path.join(store.checkpointsDir, 'd', 'core-1.img'), 'CORE');
    expect((await agentRejection(services.restore.restore({ checkpointId: 'd', requested: 'RUNNING', options: {} }))).message).toMatch(
      /core-1\.img: content differs/,
    );
    expect(criu.calls).toHaveLength(1);
  });

  it('a damaged page image of a parent pre-dump is data-loss at post-restore naming the parent', async () => {
    const old = await freePid();
    for (const [id, over] of [
      ['pre', { kind: 'pre-dump' as const }],
      ['d', { parentId: 'pre' }],
    ] as const) {
      const pending = await store.create(id);
      writeFileSync(path.join(pending.dir, 'pages-1.img'), Buffer.alloc(1 << 20, 7));
      const files = await digestDirectory(pending.dir);
      await pending.commit(checkpointRecord(id, { createdAt: new Date().toISOString(), pid: old, pids: [old], files, ...over }));
    }
    writeFileSync(path.join(store.checkpointsDir, 'pre', 'pages-1.img'), Buffer.alloc(1 << 20, 8));
    const restored = rebuildsSleeper();
    const err = await agentRejection(services.restore.restore({ checkpointId: 'd', requested: 'RUNNING', options: {} }));
    expect(err.kind).toBe('data-loss');
    expect(err.message).toMatch(
      /^parent checkpoint pre of d: .*pre does not match its recorded digest \(1 problem\): pages-1\.img: content differs/,
    );
    expect(criu.calls).toHaveLength(1);
    await expectStatus(restored(), 'gone');
  });

  it('a restore that never passed post-restore is internal, and its tree is killed', async () => {
    const old = await freePid();
    await commitRecord('d', { pid: old, pids: [old] });
    criu.skipCommit = true;
    const restored = rebuildsSleeper();
    const err = await agentRejection(services.restore.restore({ checkpointId: 'd', requested: 'RUNNING', options: {} }));
    expect(err.kind).toBe('internal');
    expect(err.message).toMatch(/without its post-restore notification/);
    await expectStatus(restored(), 'gone');
  });

  it('passes a CRIU failure on', async () => {
    const old = await freePid();
    await commitRecord('d', { pid: old, pids: [old] });
    criu.onRestore = () => Promise.reject(new AgentError('already-exists', 'CRIU restore failed (EEXIST)'));
    const err = await agentRejection(services.restore.restore({ checkpointId: 'd', requested: 'RUNNING', options: {} }));
    expect(err.kind).toBe('already-exists');
    // The checkpoint stays for another try.
    expect(await store.get('d')).not.toBeNull();
  });

  // Seen in the soak: a Restore whose client cancelled while the checkpoint
  // was being looked up answered CANCELLED, then its work, going on in the
  // background, failed with the same reason, unhandled, and Node ended the agent.
  it('cancelled while its checkpoint is looked up: CANCELLED, no CRIU run, and nothing left unhandled to end the agent', async () => {
    const old = await freePid();
    await commitRecord('d', { pid: old, pids: [old] });
    const controller = new AbortController();
    const reason = new AgentError('cancelled', 'Restore: the client cancelled the call');
    const get = store.get.bind(store);
    jest.spyOn(store, 'get').mockImplementation(async (id) => {
      controller.abort(reason);
      return get(id);
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => {
      unhandled.push(err);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const err = await agentRejection(services.restore.restore({ checkpointId: 'd', requested: 'RUNNING', options: {} }, controller.signal));
      expect(err).toBe(reason);
      // The background work ends (its CRIU slot was never granted) and any rejection surfaces within a few turns.
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled).toEqual([]);
      expect(criu.calls).toEqual([]);
      // Its locks were released: the next Restore runs.
      jest.restoreAllMocks();
      rebuildsSleeper();
      expect((await services.restore.restore({ checkpointId: 'd', requested: 'RUNNING', options: {} })).finalState).toBe('RUNNING');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('Continue', () => {
  it('of a running process is failed-precondition', async () => {
    const pid = await startSleeper();
    const err = await agentRejection(services.continue.continue(pid));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain(`the tree of pid ${pid} is running, not stopped`);
  });

  it('of a SIGSTOPped process returns its pid and it runs again', async () => {
    const pid = await startSleeper();
    process.kill(pid, 'SIGSTOP');
    await expectStatus(pid, 'stopped');
    await expect(services.continue.continue(pid)).resolves.toEqual({ pids: [pid], stoppedBy: '', gpu: [] });
    expect(await status(pid)).toBe('running');
  });

  it('of a pid that does not exist is not-found', async () => {
    expect((await agentRejection(services.continue.continue(await freePid()))).kind).toBe('not-found');
  });
});

describe('Check', () => {
  it('reports CRIU version, transport, kernel and features', async () => {
    const { gpu, ...rest } = await services.check.check();
    expect(rest).toEqual({
      criuVersion: '4.2.1',
      criuTransport: 'fake criu (tests)',
      kernel: os.release(),
      memTrack: true,
      lazyPages: false,
      pidfdStore: true,
    });
    // The real CudaDriver: whatever this node has (gpu-service.test.ts checks the mapping).
    expect(typeof gpu.driverVersion).toBe('string');
    expect(services.check.description).toBe('fake criu (tests)');
  });
});

describe('guards', () => {
  const targets: [string, () => number][] = [
    ['pid 1', () => 1],
    ['the agent itself', () => process.pid],
  ];

  it.each(targets)('%s is permission-denied for every operation', async (_name, pidOf) => {
    const pid = pidOf();
    for (const p of [services.dump.dump(dumpParams(pid)), services.dump.preDump(dumpParams(pid)), services.continue.continue(pid)]) {
      const err = await agentRejection(p);
      expect(err.kind).toBe('permission-denied');
    }
    expect(criu.calls).toEqual([]);
    expect(checkpointEntries()).toEqual([]);
  });

  it("the agent's own CRIU workers, and what they are restoring, are permission-denied", async () => {
    // A child of the agent (this test process) named criu, with a child of its own.
    const bin = mkdtempSync(path.join(os.tmpdir(), 'fake-criu-'));
    symlinkSync('/bin/sh', path.join(bin, 'criu'));
    const worker = spawn(path.join(bin, 'criu'), ['-c', 'sleep 1000 & wait'], { stdio: 'ignore' });
    let childPid = 0;
    try {
      const workerPid = worker.pid ?? 0;
      for (let i = 0; i < 100 && !childPid; i++) {
        childPid = (await snapshotTree(workerPid))?.processes[1]?.pid ?? 0;
        if (!childPid) await new Promise((r) => setTimeout(r, 20));
      }
      expect((await readProcess(workerPid))?.comm).toBe('criu');
      expect(childPid).toBeGreaterThan(0);
      const own = await agentRejection(services.dump.dump(dumpParams(workerPid)));
      expect(own.kind).toBe('permission-denied');
      expect(own.message).toMatch(/one of the agent's own CRIU workers/);
      const below = await agentRejection(services.continue.continue(childPid));
      expect(below.kind).toBe('permission-denied');
      expect(below.message).toMatch(new RegExp(`descends from the agent's CRIU worker ${workerPid}`));
      expect(criu.calls).toEqual([]);
    } finally {
      if (childPid) process.kill(childPid, 'SIGKILL');
      worker.kill('SIGKILL');
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('a kernel thread is permission-denied', async () => {
    // kthreadd is pid 2 outside pid namespaces, which is where the agent runs.
    expect(readFileSync('/proc/2/stat', 'utf8')).toContain('(kthreadd)');
    const err = await agentRejection(services.dump.dump(dumpParams(2)));
    expect(err.kind).toBe('permission-denied');
    expect(err.message).toContain('kernel thread');
  });

  it('a tree containing the agent is permission-denied', async () => {
    // The jest worker's parent tree contains this process.
    const ppid = process.ppid;
    expect(ppid).not.toBe(1);
    const err = await agentRejection(services.dump.dump(dumpParams(ppid)));
    expect(err.kind).toBe('permission-denied');
    expect(err.message).toContain('the agent itself is part of it');
    expect(checkpointEntries()).toEqual([]);
  });
});

describe('GPU trees (the GPU steps wired around CRIU, against the driver double)', () => {
  let gpu: GpuDriverDouble;
  let procRoot: string;

  /** Marks `pid` as a CUDA process: /dev/nvidia0 among its fds (in a fake /proc) and known to the double. */
  function gpuProcess(pid: number): void {
    mkdirSync(path.join(procRoot, String(pid), 'fd'), { recursive: true });
    symlinkSync('/dev/nvidia0', path.join(procRoot, String(pid), 'fd', '7'));
    gpu.addProcess(pid);
  }

  beforeEach(() => {
    procRoot = mkdtempSync(path.join(tmp, 'proc-'));
    gpu = new GpuDriverDouble();
    services = createServices({ config, criu, store, gpu, gpuProcRoot: procRoot });
  });

  it('Dump RUNNING: Lock + Checkpoint before CRIU, Restore + Unlock after; reply and manifest carry the GPU steps', async () => {
    const pid = await startSleeper();
    gpuProcess(pid);
    let stateDuringCriu = '';
    criu.onDump = (run) => {
      stateDuringCriu = gpu.getState(pid);
      writeImages(run);
    };
    const r = await services.dump.dump(dumpParams(pid));
    expect(stateDuringCriu).toBe('checkpointed');
    expect(gpu.trace).toEqual([`lock:${pid}`, `checkpoint:${pid}`, `restore:${pid}`, `unlock:${pid}`]);
    expect(gpu.calls[0]?.timeoutMs).toBe(10_000);
    expect(r.gpu.map((g) => g.pid)).toEqual([pid]);
    expect(r.gpu[0]?.restoreMs).toBeGreaterThanOrEqual(0);
    expect((await store.get('ckpt-1'))?.gpu?.map((g) => g.pid)).toEqual([pid]);
    await expectStatus(pid, 'running');
  });

  it("a CRIU failure after Checkpoint: the process gets its GPU state back and is unlocked; CRIU's error is returned", async () => {
    const pid = await startSleeper();
    gpuProcess(pid);
    criu.onDump = () => Promise.reject(new AgentError('internal', 'criu dump failed (fake)'));
    await expect(services.dump.dump(dumpParams(pid, { requested: 'DEAD' }))).rejects.toThrow(/criu dump failed \(fake\)/);
    expect(gpu.trace).toEqual([`lock:${pid}`, `checkpoint:${pid}`, `restore:${pid}`, `unlock:${pid}`]);
    expect(gpu.getState(pid)).toBe('running');
    expect(checkpointEntries()).toEqual([]);
  });

  it('a Lock timeout is ABORTED before CRIU runs; nothing changed', async () => {
    const pid = await startSleeper();
    gpuProcess(pid);
    gpu.failOn('lock', { timeout: true });
    const err = await agentRejection(services.dump.dump(dumpParams(pid)));
    expect(err.kind).toBe('aborted');
    expect(criu.calls).toEqual([]);
    expect(gpu.getState(pid)).toBe('running');
  });

  it('PreDump of a GPU tree is FAILED_PRECONDITION, before CRIU', async () => {
    const pid = await startSleeper();
    gpuProcess(pid);
    const err = await agentRejection(services.dump.preDump(dumpParams(pid)));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toMatch(/GPU processes .* call Dump directly/);
    expect(criu.calls).toEqual([]);
  });

  it('Dump STOPPED leaves GPU state parked; Continue alone resumes the tree and gives it back', async () => {
    const pid = await startSleeper();
    gpuProcess(pid);
    criu.onDump = (run) => {
      writeImages(run);
      process.kill(pid, 'SIGSTOP');
    };
    const r = await services.dump.dump(dumpParams(pid, { requested: 'STOPPED' }));
    expect(r.finalState).toBe('STOPPED');
    expect(gpu.getState(pid)).toBe('checkpointed');
    const c = await services.continue.continue(pid);
    expect(c.gpu.map((g) => g.pid)).toEqual([pid]);
    expect(gpu.trace.slice(2)).toEqual([`restore:${pid}`, `unlock:${pid}`]);
    expect(gpu.getState(pid)).toBe('running');
    await expectStatus(pid, 'running');
  });

  it('Restore of a GPU checkpoint on a node without the checkpoint API: FAILED_PRECONDITION naming the driver, before CRIU', async () => {
    const pid = await startSleeper();
    gpuProcess(pid);
    await services.dump.dump(dumpParams(pid));
    const noApi = new GpuDriverDouble({
      driverLoaded: true,
      loadError: '',
      driverVersion: 12020,
      checkpointApi: false,
      initError: '',
      devices: [],
    });
    const without = createServices({ config, criu, store, gpu: noApi, gpuProcRoot: procRoot });
    const err = await agentRejection(without.restore.restore({ checkpointId: 'ckpt-1', requested: 'RUNNING', options: {} }));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain('CUDA 12.2 (12020)');
    expect(criu.calls.map((c) => c.op)).toEqual(['dump']);
  });
});
