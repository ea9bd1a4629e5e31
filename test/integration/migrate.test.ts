/**
 * Migrate between two real agents on one machine: the destination runs in its
 * own pid, network and mount namespaces (a second node: the tree gets its
 * original pids there while the source still holds them), reached over a unix
 * socket path. A multi-process tree and a real redis move with their memory;
 * every failure leaves the tree running on exactly one node, and nothing on
 * the destination.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentError } from '../../src/errors';
import { GrpcPeerConnector } from '../../src/peer/grpc';
import { pidInUse, snapshotTree, treeStatus, waitForPidFree } from '../../src/proctree';
import { auditLines, startAgent, type AgentProcess } from '../helpers/agent';
import { waitUntil } from '../helpers/wait';
import { CLI, outcome } from '../helpers/cli';
import { killAllTargets, startTarget, type TargetState } from '../helpers/target';
import { checkpointDirs } from '../helpers/transfer';
import { inNamespacesOf, listedIds, migrateEvents, queryInNamespacesOf, type MigrateOutcome } from '../helpers/migrate';
import { freePort } from '../helpers/net';

jest.setTimeout(120_000);

let src: AgentProcess;
let dst: AgentProcess;
let seq = 0;
const newId = (what: string): string => `${what}-${process.pid}-${seq++}`;

const migrate = (req: object, opts: Parameters<typeof migrateEvents>[2] = {}): Promise<MigrateOutcome> => migrateEvents(src.client, req, opts);
const listed = listedIds;
const inDst = (cmd: string[], input?: string): string => inNamespacesOf(dst, cmd, input);
const queryInDst = (port: number): TargetState => queryInNamespacesOf(dst, port);

/**
 * Live (not zombie) pids inside the destination's pid namespace. The agent is
 * PID 1 there and reaps no orphans: what it killed stays a zombie.
 */
function dstPids(): number[] {
  const procDir = `/proc/${dst.pid}/root/proc`;
  return fs
    .readdirSync(procDir)
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`${procDir}/${n}/stat`, 'utf8'));
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function expectNothingOn(agent: AgentProcess, id: string): Promise<void> {
  // The destination undoes asynchronously once the call ended.
  for (let i = 0; i < 100 && checkpointDirs(agent.stateDir).some((n) => n.includes(id)); i++) await new Promise((r) => setTimeout(r, 50));
  expect(await listed(agent)).not.toContain(id);
  expect(checkpointDirs(agent.stateDir).filter((n) => n.includes(id))).toEqual([]);
}

const expectNothingOnDst = (id: string): Promise<void> => expectNothingOn(dst, id);

/** Runs `body` with an agent whose state directory is a tmpfs of `size`, then removes both. */
async function withAgentOnTmpfs(size: string, opts: { namespaced?: boolean }, body: (agent: AgentProcess) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-tmpfs-'));
  const stateDir = path.join(dir, 'state');
  fs.mkdirSync(stateDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', stateDir]);
  let agent: AgentProcess | undefined;
  try {
    agent = await startAgent({ dir, ...opts });
    await body(agent);
  } finally {
    await agent?.stop('SIGKILL');
    execFileSync('umount', ['-l', stateDir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function expectRunningHere(pid: number): Promise<void> {
  const snap = await snapshotTree(pid);
  expect(treeStatus(snap)).toBe('running');
}

beforeAll(async () => {
  [src, dst] = await Promise.all([startAgent(), startAgent({ namespaced: true })]);
});

afterEach(async () => {
  await killAllTargets();
});

afterAll(async () => {
  await Promise.all([src?.dispose(), dst?.dispose()]);
});

describe('stop-and-copy to a destination in its own namespaces', () => {
  it('moves a tree of three processes with 16 MiB: same pids, memory intact, gone from the source, listed on the destination only', async () => {
    const t = await startTarget({ children: 2, extraMiB: 16 });
    const before = await t.query();
    const id = newId('move');
    const { events, error } = await migrate({ pid: t.pid, destination: `unix:${dst.socket}`, checkpoint_id: id });
    expect(error).toBeUndefined();
    expect(events.map((e) => e.step)).toEqual([
      'MIGRATE_STEP_ACCEPTED',
      'MIGRATE_STEP_DUMPED',
      'MIGRATE_STEP_TRANSFERRED',
      'MIGRATE_STEP_RESTORED',
      'MIGRATE_STEP_DONE',
    ]);
    const r = events.at(-1)?.result;
    expect(r).toMatchObject({
      checkpoint_id: id,
      mode: 'MIGRATE_MODE_STOP_AND_COPY',
      destination_pid: t.pid,
      final_state: 'FINAL_STATE_RUNNING',
      rounds: 0,
    });
    expect([...(r?.pids ?? [])].sort()).toEqual([...t.allPids].sort());
    // The pages (16 MiB and more) went through the page server.
    expect(Number(r?.transfer_bytes)).toBeGreaterThan(16 * 1024 * 1024);
    expect(Number(r?.downtime_us)).toBeGreaterThanOrEqual(Number(r?.frozen_time_us));

    const after = queryInDst(t.port);
    expect(after.pid).toBe(t.pid);
    expect(after.children).toEqual([...t.childPids]);
    expect(after.mem_sha256_now).toBe(before.mem_sha256_at_start);
    expect(after.counter).toBeGreaterThanOrEqual(before.counter);
    for (const pid of t.allPids) expect(await waitForPidFree(pid, 15_000)).toBe(true);
    expect(await listed(dst)).toContain(id);
    expect(await listed(src)).not.toContain(id);
    expect(fs.readdirSync(path.join(dst.stateDir, 'checkpoints', id)).some((f) => /^pages-\d+\.img$/.test(f))).toBe(true);
  });

  it('moves a redis holding data written before the migration; the CLI prints a line per step and the result', async () => {
    const port = await freePort();
    const redis = spawn('setsid', ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
      stdio: 'ignore',
    });
    const redisPid = redis.pid ?? 0;
    try {
      for (let i = 0; i < 100; i++) {
        try {
          if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).trim() === 'PONG') break;
        } catch {
          // not yet
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      // Every write acknowledged (redis-cli prints each reply) before the migration starts.
      const commands = Array.from({ length: 500 }, (_, i) => `SET key-${i} value-${i}`).join('\n') + '\nRPUSH acked a b c\n';
      const replies = execFileSync('redis-cli', ['-p', String(port)], { input: commands, encoding: 'utf8' }).trim().split('\n');
      expect(replies.filter((l) => l === 'OK')).toHaveLength(500);
      // setsid execs redis-server: it is the root of its own session, the whole tree.
      const pid = redisPid;
      expect(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toMatch(/^redis/);
      const id = newId('redis');
      const run = await outcome(
        spawn(process.execPath, [CLI, 'migrate', String(pid), '--to', `unix:${dst.socket}`, '--id', id, '--address', `unix:${src.socket}`], {
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      expect(run.stderr).toMatch(/^accepted: destination .* accepted checkpoint .*\ndumped: .*\ntransferred: .*\nrestored: .*\ndone: .*\n$/);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^migrated pid ${pid} to unix:${dst.socket}: pid ${pid} \\(\\d+ process(es)?\\), RUNNING, checkpoint ${id}\\n  mode +stop-and-copy\\n  downtime `));
      expect(inDst(['redis-cli', '-p', String(port), 'get', 'key-499']).trim()).toBe('value-499');
      expect(inDst(['redis-cli', '-p', String(port), 'lrange', 'acked', '0', '-1']).trim().split('\n')).toEqual(['a', 'b', 'c']);
      expect(inDst(['redis-cli', '-p', String(port), 'dbsize']).trim()).toBe('501');
      expect(await waitForPidFree(pid, 15_000)).toBe(true);
    } finally {
      try {
        process.kill(redisPid, 'SIGKILL');
      } catch {
        // moved away: the destination's namespace ends it
      }
    }
  });
});

describe('a source with little room', () => {
  it('moves a 128 MiB tree from a source whose state directory has 48 MiB: its pages go to the destination, not to its disk', async () => {
    await withAgentOnTmpfs('48m', {}, async (small) => {
      const t = await startTarget({ children: 1, extraMiB: 128 });
      const before = await t.query();
      const id = newId('small-src');
      const { error, events } = await migrateEvents(small.client, { pid: t.pid, destination: `unix:${dst.socket}`, checkpoint_id: id });
      expect(error).toBeUndefined();
      expect(events.at(-1)?.result?.destination_pid).toBe(t.pid);
      expect(queryInDst(t.port).mem_sha256_now).toBe(before.mem_sha256_at_start);
      for (const pid of t.allPids) expect(await waitForPidFree(pid, 15_000)).toBe(true);
    });
  });
});

describe('a destination whose disk fills during the page transfer', () => {
  it("its page server fails on ENOSPC: the source's dump fails at once, the tree runs on here, nothing is left there", async () => {
    await withAgentOnTmpfs('160m', { namespaced: true }, async (full) => {
      const t = await startTarget({ children: 1, extraMiB: 64 });
      const id = newId('full-dst');
      const filler = path.join(full.stateDir, 'filler');
      // The offer passed the space check; the disk fills before the first page
      // arrives. Before the fix the source's dump waited for an answer that
      // never came and the call ended DEADLINE_EXCEEDED.
      const { error, events } = await migrate(
        { pid: t.pid, destination: `unix:${full.socket}`, checkpoint_id: id },
        {
          deadlineMs: 45_000,
          onEvent: (e) => void (e.step === 'MIGRATE_STEP_ACCEPTED' && execFileSync('fallocate', ['-l', `${150 * 1024 * 1024}`, filler])),
        },
      );
      expect(events.map((e) => e.step)).toEqual(['MIGRATE_STEP_ACCEPTED']);
      expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(error?.details).toMatch(/^the destination's page server failed \(the destination's disk is full: .* has 0\.\d MiB free\), so the dump failed: CRIU dump failed/);
      expect(error?.details).toMatch(/the tree keeps running on the source \(pid \d+\) and nothing was left on the destination$/);
      await expectRunningHere(t.pid);
      await t.query();
      fs.rmSync(filler);
      await expectNothingOn(full, id);
    });
  });
});

describe('refusals before anything is frozen', () => {
  it('PRE_COPY and POST_COPY on this kernel: FAILED_PRECONDITION, the tree never stopped', async () => {
    const t = await startTarget({ children: 1 });
    for (const [mode, why] of [
      ['MIGRATE_MODE_PRE_COPY', /^PRE_COPY needs kernel memory tracking \(soft-dirty/],
      ['MIGRATE_MODE_POST_COPY', /^POST_COPY (needs userfaultfd lazy pages|is not implemented by this agent yet); nothing was frozen/],
    ] as const) {
      const id = newId('mode');
      const { events, error } = await migrate({ pid: t.pid, destination: `unix:${dst.socket}`, checkpoint_id: id, mode });
      expect(events).toEqual([]);
      expect(error?.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error?.details).toMatch(why);
      await expectNothingOnDst(id);
    }
    await expectRunningHere(t.pid);
    await t.query();
  });

  it('a destination where the pids are taken (same pid namespace): ALREADY_EXISTS, the tree runs on', async () => {
    const same = await startAgent();
    try {
      const t = await startTarget({ children: 1 });
      const { events, error } = await migrate({ pid: t.pid, destination: `unix:${same.socket}`, checkpoint_id: newId('taken') });
      expect(events).toEqual([]);
      expect(error?.code).toBe(grpc.status.ALREADY_EXISTS);
      expect(error?.details).toMatch(new RegExp(`^the destination refused the tree: the destination agent at unix:${same.socket} answered ALREADY_EXISTS: pid ${t.pid} of the tree is in use on the destination .*; the tree keeps running on the source \\(pid ${t.pid}\\)`));
      await expectRunningHere(t.pid);
      expect(await listed(same)).toEqual([]);
    } finally {
      await same.dispose();
    }
  });

  it('a destination that does not authorize ReceiveMigration, and one that is not there', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-mpolicy-'));
    const policy = path.join(dir, 'policy.json');
    fs.writeFileSync(policy, JSON.stringify({ roles: { r: ['Check', 'ImportCheckpoint'] }, bindings: [{ identity: 'uid:0', role: 'r' }] }));
    const strict = await startAgent({ dir, args: ['--policy', policy], namespaced: true });
    try {
      const t = await startTarget({ children: 1 });
      const denied = await migrate({ pid: t.pid, destination: `unix:${strict.socket}` });
      expect(denied.error?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(denied.error?.details).toMatch(/identity uid:0 may not call ReceiveMigration; allowed: Check, ImportCheckpoint; the tree keeps running on the source/);
      const missing = await migrate({ pid: t.pid, destination: `unix:${path.join(dir, 'nobody.sock')}` });
      expect(missing.error?.code).toBe(grpc.status.UNAVAILABLE);
      expect(missing.error?.details).toMatch(/cannot reach the destination agent at unix:.*nobody\.sock/);
      await expectRunningHere(t.pid);
      await t.query();
    } finally {
      await strict.dispose();
    }
  });
});

describe('a destination that refuses the call at once, before its first answer', () => {
  let strict: AgentProcess;
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-mrefuse-'));
    const policy = path.join(dir, 'policy.json');
    fs.writeFileSync(policy, JSON.stringify({ roles: { r: ['Check'] }, bindings: [{ identity: 'uid:0', role: 'r' }] }));
    strict = await startAgent({ dir, args: ['--policy', policy], namespaced: true });
  });
  afterAll(async () => {
    await strict?.dispose();
  });

  // The authorization interceptor answers ReceiveMigration as soon as its
  // headers arrive. Once that answer was read (before the source sent its
  // offer: a source slow to build it), grpc-js has destroyed the call: a write
  // then returns false and no drain, error or close follows. The send must
  // answer the destination's status instead of waiting for ever.
  it("the peer client: a send after the refusal was read rejects with the destination's status", async () => {
    const session = new GrpcPeerConnector().open(`unix:${strict.socket}`);
    try {
      const refused = await session.receive().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(AgentError);
      expect(refused).toMatchObject({ kind: 'permission-denied' });
      const sent = await session.send({ offer: { checkpoint_id: newId('early') } }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(sent).toBeInstanceOf(AgentError);
      expect(sent).toMatchObject({ kind: 'permission-denied' });
      expect((sent as AgentError).message).toMatch(
        new RegExp(`^the destination agent at unix:${strict.socket} answered PERMISSION_DENIED: identity uid:0 may not call ReceiveMigration`),
      );
    } finally {
      session.cancel();
    }
  });

  it('Migrate of a tree of 200 processes (its offer takes a while to build): PERMISSION_DENIED at once, the tree runs on, nothing on the destination', async () => {
    // Reading the memory of 200 processes for the offer takes longer than the refusal's round trip on a unix socket.
    const t = await startTarget({ children: 200 });
    for (let i = 0; i < 3; i++) {
      const id = newId('refused');
      const { events, error } = await migrate({ pid: t.pid, destination: `unix:${strict.socket}`, checkpoint_id: id });
      expect(events).toEqual([]);
      expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(error?.details).toMatch(
        new RegExp(
          `^the destination refused the tree: the destination agent at unix:${strict.socket} answered PERMISSION_DENIED: identity uid:0 may not call ReceiveMigration; allowed: Check; the tree keeps running on the source \\(pid ${t.pid}\\) and nothing was left on the destination$`,
        ),
      );
      expect(checkpointDirs(strict.stateDir).filter((n) => n.includes(id))).toEqual([]);
    }
    await expectRunningHere(t.pid);
    await t.query();
  });
});

describe('failures after the freeze resume the tree on the source', () => {
  it("the destination's CRIU fails to restore (its port is taken there): the tree runs on here, nothing is left there", async () => {
    const t = await startTarget({ children: 1 });
    // A listener on the target's port inside the destination's network namespace: CRIU cannot bind it.
    const blocker = spawn('nsenter', ['-t', String(dst.pid), '-n', '--', 'python3', '-c', `import socket,time;s=socket.socket();s.bind(('127.0.0.1',${t.port}));s.listen();print('up',flush=True);time.sleep(600)`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      await new Promise((r) => blocker.stdout.once('data', r));
      const id = newId('crufail');
      const { events, error } = await migrate({ pid: t.pid, destination: `unix:${dst.socket}`, checkpoint_id: id });
      expect(events.map((e) => e.step)).toEqual(['MIGRATE_STEP_ACCEPTED', 'MIGRATE_STEP_DUMPED', 'MIGRATE_STEP_TRANSFERRED']);
      expect(error?.details).toMatch(/^the destination could not restore the tree: .*; the tree was resumed on the source \(pid \d+\) and nothing was left on the destination$/);
      await expectRunningHere(t.pid);
      await t.query();
      await expectNothingOnDst(id);
      for (const pid of t.allPids) expect(dstPids()).not.toContain(pid);
    } finally {
      blocker.kill('SIGKILL');
    }
  });

  it('the caller cancels after the dump: the tree is resumed here, the destination removes what it received', async () => {
    const t = await startTarget({ children: 1, extraMiB: 8 });
    const id = newId('cancel');
    const { events, error } = await migrate({ pid: t.pid, destination: `unix:${dst.socket}`, checkpoint_id: id }, { cancelAt: 'MIGRATE_STEP_DUMPED' });
    expect(error?.code).toBe(grpc.status.CANCELLED);
    expect(events.at(-1)?.step).toBe('MIGRATE_STEP_DUMPED');
    // The agent resumes the tree once it noticed the cancel.
    for (let i = 0; i < 100 && treeStatus(await snapshotTree(t.pid)) !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    await expectRunningHere(t.pid);
    await t.query();
    await expectNothingOnDst(id);
    for (const pid of t.allPids) expect(dstPids()).not.toContain(pid);
    expect(await listed(src)).not.toContain(id);
    // The audit says how the call ended, not that it had sent events (it said OK before).
    await waitUntil('the audit lines', () => auditLines(src).some((l) => l.checkpointId === id) && auditLines(dst).some((l) => l.checkpointId === id));
    expect(auditLines(src).filter((l) => l.checkpointId === id).map((l) => [l.method, l.code])).toEqual([['Migrate', 'CANCELLED']]);
    expect(auditLines(dst).filter((l) => l.checkpointId === id).map((l) => [l.method, l.code])).toEqual([['ReceiveMigration', 'CANCELLED']]);
  });

  it('the source agent is killed while it holds the tree stopped: its next start resumes the tree, nothing is left on the destination', async () => {
    let source = await startAgent();
    try {
      const t = await startTarget({ children: 1, extraMiB: 8 });
      const id = newId('srckill');
      const { error } = await new Promise<MigrateOutcome>((resolve) => {
        void migrateEvents(source.client, { pid: t.pid, destination: `unix:${dst.socket}`, checkpoint_id: id }, {
          onEvent: (e) => {
            if (e.step === 'MIGRATE_STEP_DUMPED') void source.stop('SIGKILL');
          },
        }).then(resolve);
      });
      expect(error).toBeDefined();
      // Killed after the dump: nothing of that agent resumes the tree any more.
      expect(treeStatus(await snapshotTree(t.pid))).toBe('stopped');
      source = await source.restart();
      for (let i = 0; i < 200 && treeStatus(await snapshotTree(t.pid)) !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
      await expectRunningHere(t.pid);
      await t.query();
      expect(source.output()).toContain('an earlier run of this agent was killed in the middle of a migration');
      await expectNothingOnDst(id);
      for (const pid of t.allPids) expect(dstPids()).not.toContain(pid);
      expect(await listed(source)).not.toContain(id);
    } finally {
      await source.dispose();
    }
  });

  it('the destination dies during the migration: the tree is resumed here and the error says so', async () => {
    const doomed = await startAgent({ namespaced: true });
    try {
      const t = await startTarget({ children: 1, extraMiB: 8 });
      const { error } = await new Promise<MigrateOutcome>((resolve) => {
        void migrate({ pid: t.pid, destination: `unix:${doomed.socket}` }, {
          onEvent: (e) => {
            if (e.step === 'MIGRATE_STEP_ACCEPTED') void doomed.stop('SIGKILL');
          },
        }).then(resolve);
      });
      expect(error).toBeDefined();
      expect(error?.details).toMatch(/the tree was resumed on the source \(pid \d+\)|the tree keeps running on the source/);
      for (let i = 0; i < 100 && treeStatus(await snapshotTree(t.pid)) !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
      await expectRunningHere(t.pid);
      await t.query();
      expect(await pidInUse(t.pid)).toBe(true);
    } finally {
      await doomed.dispose();
    }
  });
});

