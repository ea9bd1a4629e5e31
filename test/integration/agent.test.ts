/**
 * The agent end to end: a real agent process, called over gRPC, checkpointing
 * real process trees (several processes, threads, open files, a listening TCP
 * socket) with real CRIU.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CheckResponse__Output } from '../../src/generated/criu_agent/v1/CheckResponse';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import type { PreDumpResponse__Output } from '../../src/generated/criu_agent/v1/PreDumpResponse';
import type { RestoreResponse__Output } from '../../src/generated/criu_agent/v1/RestoreResponse';
import type { ContinueResponse__Output } from '../../src/generated/criu_agent/v1/ContinueResponse';
import type { ProtoGrpcType } from '../../src/generated/agent';
import { loadAgentPackageDefinition } from '../../src/proto';
import { pidInUse, snapshotTree, treeStatus, waitForPidFree, waitForTreeStatus } from '../../src/proctree';
import { call, expectStatus, startAgent, type AgentProcess, hasDumpLog } from '../helpers/agent';
import { killAllTargets, startTarget, type Target } from '../helpers/target';

jest.setTimeout(120_000);

let agent: AgentProcess;
let seq = 0;
const newId = (what: string): string => `${what}-${process.pid}-${seq++}`;

const dump = (req: object, opts?: grpc.CallOptions) => call<DumpResponse__Output>(agent.client, 'Dump', req, opts);
const preDump = (req: object) => call<PreDumpResponse__Output>(agent.client, 'PreDump', req);
const restore = (req: object, opts?: grpc.CallOptions) => call<RestoreResponse__Output>(agent.client, 'Restore', req, opts);
const cont = (req: object) => call<ContinueResponse__Output>(agent.client, 'Continue', req);

/** Restored trees are children of PID 1, which reaps them only every 1-2 s: wait before restoring into their pids. */
async function waitGone(pids: readonly number[]): Promise<void> {
  for (const pid of pids) expect(await waitForPidFree(pid, 15_000)).toBe(true);
}

/**
 * What is left of checkpoint `id` in the state directory once the agent's
 * CRIU is done. A cancel or deadline is answered at once, but CRIU holds the
 * tree until its next notification (see criu/client.ts) and the temporary
 * directory goes after it: under emulation (the VM suite) that takes many
 * seconds for 512 MiB, so the wait follows CRIU rather than a fixed time.
 */
async function leftOf(id: string): Promise<string[]> {
  const checkpoints = path.join(agent.stateDir, 'checkpoints');
  const left = (): string[] => fs.readdirSync(checkpoints).filter((n) => n.includes(id));
  const criuRunning = async (): Promise<boolean> => ((await snapshotTree(agent.pid))?.processes ?? []).some((p) => p.comm === 'criu');
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && (left().length > 0 || (await criuRunning()))) await new Promise((res) => setTimeout(res, 50));
  return left();
}

async function expectTreeStatus(pid: number, want: 'running' | 'stopped' | 'gone'): Promise<void> {
  const { status } = await waitForTreeStatus(pid, want, 3000);
  expect(status).toBe(want);
}

/** The restored tree is the same program, with its memory intact and its children and threads back. */
async function expectSameProgram(t: Target, counterAtDump: number): Promise<void> {
  const s = await t.query(5000);
  expect(s.pid).toBe(t.pid);
  expect(s.children).toEqual([...t.childPids]);
  expect(s.mem_sha256_now).toBe(s.mem_sha256_at_start);
  expect(s.counter).toBeGreaterThanOrEqual(counterAtDump);
  expect(s.threads).toBeGreaterThanOrEqual(3);
  const snap = await snapshotTree(t.pid);
  expect(snap?.processes.map((p) => p.pid).sort()).toEqual([...t.allPids].sort());
  expect(snap?.processes.every((p) => p.tasks.length >= 2)).toBe(true);
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

describe('Check', () => {
  it('reports the CRIU it drives and the kernel features', async () => {
    const r = await call<CheckResponse__Output>(agent.client, 'Check', {});
    expect(r.criu_version).toMatch(/^\d+\.\d+/);
    expect(r.criu_transport).toMatch(/criu swrk/);
    expect(r.kernel).toBe(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
  });
});

describe('Dump and Restore', () => {
  it('Dump with no final state kills the tree; Restore brings it back running, memory intact', async () => {
    const t = await startTarget();
    const before = await t.query();
    const id = newId('dead');
    const r = await dump({ pid: t.pid, checkpoint_id: id });
    expect(r.final_state).toBe('FINAL_STATE_DEAD');
    expect(r.checkpoint_id).toBe(id);
    expect(r.images_dir).toBe(path.join(agent.stateDir, 'checkpoints', id));
    expect([...r.pids].sort()).toEqual([...t.allPids].sort());
    expect(fs.existsSync(path.join(r.images_dir, 'checkpoint.json'))).toBe(true);
    expect(fs.existsSync(r.log_path)).toBe(true);
    await expectTreeStatus(t.pid, 'gone');
    await waitGone(t.allPids);

    const rr = await restore({ checkpoint_id: id });
    expect(rr.pid).toBe(t.pid);
    expect(rr.final_state).toBe('FINAL_STATE_RUNNING');
    expect([...rr.pids].sort()).toEqual([...t.allPids].sort());
    await expectTreeStatus(t.pid, 'running');
    await expectSameProgram(t, before.counter);
  });

  it('Dump with DEAD requested explicitly behaves as the default', async () => {
    const t = await startTarget({ children: 1 });
    const r = await dump({ pid: t.pid, checkpoint_id: newId('dead2'), final_state: 'FINAL_STATE_DEAD' });
    expect(r.final_state).toBe('FINAL_STATE_DEAD');
    await expectTreeStatus(t.pid, 'gone');
  });

  it('Dump RUNNING leaves the tree running; Restore STOPPED then Continue', async () => {
    const t = await startTarget();
    const id = newId('running');
    const beforeDump = await t.query();
    const r = await dump({ pid: t.pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' });
    expect(r.final_state).toBe('FINAL_STATE_RUNNING');
    await expectTreeStatus(t.pid, 'running');
    const a = await t.query();
    await new Promise((res) => setTimeout(res, 100));
    expect((await t.query()).counter).toBeGreaterThan(a.counter);

    // The original still holds the pids: restoring now must be refused as such.
    await expectStatus(restore({ checkpoint_id: id }), grpc.status.ALREADY_EXISTS, new RegExp(`pid ${t.pid}.*in use`));

    const pids = [...t.allPids];
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await waitGone(pids);
    const rr = await restore({ checkpoint_id: id, final_state: 'FINAL_STATE_STOPPED' });
    expect(rr.final_state).toBe('FINAL_STATE_STOPPED');
    await expectTreeStatus(t.pid, 'stopped');

    const c = await cont({ pid: t.pid });
    expect([...c.pids].sort()).toEqual(pids.sort());
    await expectTreeStatus(t.pid, 'running');
    // The restored memory is the one saved at the dump, before `a` was read.
    await expectSameProgram(t, beforeDump.counter);
  });

  it('Dump STOPPED leaves every task stopped; Continue resumes every process, then refuses a running tree', async () => {
    const t = await startTarget();
    const before = await t.query();
    const r = await dump({ pid: t.pid, checkpoint_id: newId('stopped'), final_state: 'FINAL_STATE_STOPPED' });
    expect(r.final_state).toBe('FINAL_STATE_STOPPED');
    const snap = await snapshotTree(t.pid);
    expect(treeStatus(snap)).toBe('stopped');
    expect(snap?.processes.flatMap((p) => p.tasks).every((task) => task.state === 'stopped')).toBe(true);

    const c = await cont({ pid: t.pid });
    expect([...c.pids].sort()).toEqual([...t.allPids].sort());
    await expectTreeStatus(t.pid, 'running');
    await expectSameProgram(t, before.counter);

    await expectStatus(cont({ pid: t.pid }), grpc.status.FAILED_PRECONDITION, /running, not stopped/);
  });

  it('a restored tree does not depend on the agent: restarting the agent leaves it running', async () => {
    const t = await startTarget({ children: 1 });
    const id = newId('outlive');
    await dump({ pid: t.pid, checkpoint_id: id });
    await waitGone(t.allPids);
    await restore({ checkpoint_id: id });
    const before = await t.query();

    agent = await agent.restart();
    await expectTreeStatus(t.pid, 'running');
    expect((await t.query()).counter).toBeGreaterThan(before.counter);

    const snap = await snapshotTree(t.pid);
    expect(snap?.processes[0]?.ppid).not.toBe(agent.pid);
  });
});

describe('PreDump', () => {
  it('pre-dumps where the kernel tracks memory, and says FAILED_PRECONDITION naming soft-dirty where it does not', async () => {
    const check = await call<CheckResponse__Output>(agent.client, 'Check', {});
    for (const final_state of ['FINAL_STATE_UNSPECIFIED', 'FINAL_STATE_RUNNING', 'FINAL_STATE_STOPPED', 'FINAL_STATE_DEAD']) {
      const t = await startTarget({ children: 1 });
      const id = newId('pre');
      if (check.mem_track) {
        const r = await preDump({ pid: t.pid, checkpoint_id: id, final_state });
        expect(r.final_state).toBe('FINAL_STATE_RUNNING');
        expect(r.final_state_ignored).toBe(final_state === 'FINAL_STATE_STOPPED' || final_state === 'FINAL_STATE_DEAD');
      } else {
        await expectStatus(preDump({ pid: t.pid, checkpoint_id: id, final_state }), grpc.status.FAILED_PRECONDITION, /soft-dirty.*CONFIG_MEM_SOFT_DIRTY/);
        expect(fs.existsSync(path.join(agent.stateDir, 'checkpoints', id))).toBe(false);
      }
      await expectTreeStatus(t.pid, 'running');
      await t.kill();
    }
  });
});

describe('errors', () => {
  it('NOT_FOUND for a pid that does not exist', async () => {
    let pid = 4_000_000;
    while (await pidInUse(pid)) pid++;
    await expectStatus(dump({ pid, checkpoint_id: newId('nopid') }), grpc.status.NOT_FOUND, new RegExp(`no process with pid ${pid}`));
    await expectStatus(cont({ pid }), grpc.status.NOT_FOUND, /no process/);
  });

  it('INVALID_ARGUMENT for malformed requests', async () => {
    const t = await startTarget({ children: 0 });
    await expectStatus(dump({ pid: 0, checkpoint_id: 'x' }), grpc.status.INVALID_ARGUMENT, /pid must be a positive/);
    await expectStatus(dump({ pid: -5, checkpoint_id: 'x' }), grpc.status.INVALID_ARGUMENT, /pid must be a positive/);
    for (const bad of ['', '../etc', 'a/b', '..', '.hidden', 'x'.repeat(129), 'nul\0byte']) {
      await expectStatus(dump({ pid: t.pid, checkpoint_id: bad }), grpc.status.INVALID_ARGUMENT, /checkpoint_id/);
    }
    await expectStatus(dump({ pid: t.pid, checkpoint_id: 'ok', final_state: 7 }), grpc.status.INVALID_ARGUMENT, /final_state 7/);
    await expectStatus(restore({ checkpoint_id: 'whatever', final_state: 'FINAL_STATE_DEAD' }), grpc.status.INVALID_ARGUMENT, /DEAD is not valid for Restore/);
    await expectTreeStatus(t.pid, 'running');
  });

  it('ALREADY_EXISTS for a checkpoint id that is taken, NOT_FOUND for an unknown one or a missing parent', async () => {
    const t = await startTarget({ children: 0 });
    const id = newId('taken');
    await dump({ pid: t.pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' });
    await expectStatus(dump({ pid: t.pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' }), grpc.status.ALREADY_EXISTS, /already exists/);
    await expectStatus(restore({ checkpoint_id: newId('unknown') }), grpc.status.NOT_FOUND, /does not exist/);
    await expectStatus(
      dump({ pid: t.pid, checkpoint_id: newId('orphan'), parent_checkpoint_id: newId('missing') }),
      grpc.status.NOT_FOUND,
      /parent checkpoint .* does not exist/,
    );
    await expectTreeStatus(t.pid, 'running');
  });

  it('PERMISSION_DENIED for pid 1, kernel threads and the agent itself', async () => {
    await expectStatus(dump({ pid: 1, checkpoint_id: newId('init') }), grpc.status.PERMISSION_DENIED, /pid 1/);
    // pid 2 is kthreadd on Linux.
    await expectStatus(dump({ pid: 2, checkpoint_id: newId('kthread') }), grpc.status.PERMISSION_DENIED, /kernel thread/);
    await expectStatus(cont({ pid: agent.pid }), grpc.status.PERMISSION_DENIED, /agent itself/);
  });

  it('a tree that is not a session leader fails with what to do, and dumps with shell_job', async () => {
    // sh is the session leader; its child `sleep` is what we ask to dump.
    const sh = spawn('/bin/sh', ['-c', 'sleep 1000 & wait'], { detached: true, stdio: 'ignore' });
    try {
      const shPid = sh.pid ?? 0;
      let sleepPid = 0;
      for (let i = 0; i < 100 && !sleepPid; i++) {
        const snap = await snapshotTree(shPid);
        sleepPid = snap?.processes[1]?.pid ?? 0;
        if (!sleepPid) await new Promise((res) => setTimeout(res, 20));
      }
      expect(sleepPid).toBeGreaterThan(0);
      const err = await expectStatus(
        dump({ pid: sleepPid, checkpoint_id: newId('noleader'), final_state: 'FINAL_STATE_RUNNING' }),
        grpc.status.FAILED_PRECONDITION,
        /shell_job/,
      );
      expect(err.metadata.get('criu-log')[0]).toMatch(/failed/);
      expect(fs.readdirSync(path.join(agent.stateDir, 'checkpoints')).filter((n) => n.includes('noleader'))).toEqual([]);
      await expectTreeStatus(sleepPid, 'running');

      const ok = await dump({
        pid: sleepPid,
        checkpoint_id: newId('shelljob'),
        final_state: 'FINAL_STATE_RUNNING',
        options: { shell_job: true },
      });
      expect(ok.final_state).toBe('FINAL_STATE_RUNNING');
      await expectTreeStatus(sleepPid, 'running');
    } finally {
      process.kill(-(sh.pid ?? 0), 'SIGKILL');
    }
  });

  it('a tree whose stdio is a socket of its parent fails with what to do, and dumps once the socket is declared external', async () => {
    const child = spawn('/usr/bin/python3', ['-c', 'import time\nwhile True: time.sleep(1)'], { detached: true, stdio: 'pipe' });
    try {
      const pid = child.pid ?? 0;
      await waitForTreeStatus(pid, 'running', 3000);
      await expectStatus(
        dump({ pid, checkpoint_id: newId('extsk'), final_state: 'FINAL_STATE_RUNNING' }),
        grpc.status.FAILED_PRECONDITION,
        /connected to a process outside it.*options\.external.*unix\[INODE\]/,
      );
      await expectTreeStatus(pid, 'running');
      const inodes = [0, 1, 2].map((fd) => /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]);
      const external = inodes.map((ino) => `unix[${String(ino)}]`);
      const ok = await dump({ pid, checkpoint_id: newId('extsk-ok'), final_state: 'FINAL_STATE_RUNNING', options: { external } });
      expect(ok.final_state).toBe('FINAL_STATE_RUNNING');
      await expectTreeStatus(pid, 'running');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('established TCP connections need tcp_established, and dump and restore with it', async () => {
    // One process holding both ends of a loopback connection, talking over it.
    const prog = [
      'import socket, time',
      'l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(("127.0.0.1", 0)); l.listen()',
      'c = socket.create_connection(l.getsockname()); s, _ = l.accept()',
      'while True:',
      // Exits if the connection breaks; blocks in recv if it stays locked.
      '    c.send(b"x")',
      '    if s.recv(1) != b"x": raise SystemExit(3)',
      '    time.sleep(0.02)',
    ].join('\n');
    const child = spawn('/usr/bin/python3', ['-c', prog], { detached: true, stdio: 'ignore' });
    const pid = child.pid ?? 0;
    try {
      await new Promise((res) => setTimeout(res, 500));
      await expectStatus(
        dump({ pid, checkpoint_id: newId('tcp-no'), final_state: 'FINAL_STATE_RUNNING' }),
        grpc.status.FAILED_PRECONDITION,
        /options\.tcp_established/,
      );
      await expectTreeStatus(pid, 'running');
      const id = newId('tcp');
      await dump({ pid, checkpoint_id: id, options: { tcp_established: true } });
      await expectTreeStatus(pid, 'gone');
      await waitGone([pid]);
      const r = await restore({ checkpoint_id: id, options: { tcp_established: true } });
      expect(r.pid).toBe(pid);
      // Still talking over the restored connection: each round trip ends in
      // a sleep, so its voluntary context switches keep growing (a locked or
      // broken connection would block in recv or exit).
      const switches = (): number => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      const before = switches();
      await new Promise((res) => setTimeout(res, 300));
      await expectTreeStatus(pid, 'running');
      expect(switches()).toBeGreaterThan(before + 5);
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await waitForPidFree(pid, 15_000);
    }
  });

  it('a client cancelling mid-dump stops CRIU, leaves the tree running and no checkpoint', async () => {
    // 512 MiB take CRIU about a second to write here: the call is cancelled
    // once CRIU has started (its log exists), while it holds the tree.
    const t = await startTarget({ children: 1, extraMiB: 512 });
    const before = await t.query();
    const id = newId('cancel');
    const checkpoints = path.join(agent.stateDir, 'checkpoints');
    const criuStarted = (): boolean =>
      fs.readdirSync(checkpoints).some((n) => n.startsWith(`.tmp-${id}-`) && hasDumpLog(path.join(checkpoints, n)));
    const result = new Promise<grpc.ServiceError | null>((resolve) => {
      const c = agent.client.Dump({ pid: t.pid, checkpoint_id: id }, (err) => resolve(err));
      void (async () => {
        for (let i = 0; i < 400 && !criuStarted(); i++) await new Promise((res) => setTimeout(res, 10));
        await new Promise((res) => setTimeout(res, 150));
        c.cancel();
      })();
    });
    expect((await result)?.code).toBe(grpc.status.CANCELLED);

    // The agent may still be stopping CRIU and cleaning up; then CRIU's log
    // of the cancelled dump is kept, and shows it was stopped mid-dump.
    const failedLogs = (): string[] => fs.readdirSync(path.join(agent.stateDir, 'failed')).filter((n) => n.startsWith(id));
    for (let i = 0; i < 200 && failedLogs().length === 0; i++) await new Promise((res) => setTimeout(res, 50));
    const logs = failedLogs();
    expect(logs).toHaveLength(1);
    expect(fs.readFileSync(path.join(agent.stateDir, 'failed', logs[0] ?? ''), 'utf8')).toMatch(/Seized task|Dumping pages/);
    await expectTreeStatus(t.pid, 'running');
    const after = await t.query();
    expect(after.counter).toBeGreaterThan(before.counter);
    expect(after.mem_sha256_now).toBe(before.mem_sha256_at_start);
    // The cleanup ends after the log was moved: the partial checkpoint goes next.
    expect(await leftOf(id)).toEqual([]);
  });

  it('a deadline that passes during a dump is DEADLINE_EXCEEDED, with the tree running and nothing left', async () => {
    const t = await startTarget({ children: 1, extraMiB: 512 });
    const id = newId('deadline');
    // 512 MiB take CRIU about half a second to dump here; the agent's own
    // deadline timer stops it (grpc-js does not always report an expired
    // deadline as a cancellation). The cancel test above shows the mid-CRIU
    // case; this one that a deadline reaches CRIU at all.
    await expectStatus(dump({ pid: t.pid, checkpoint_id: id }, { deadline: new Date(Date.now() + 200) }), grpc.status.DEADLINE_EXCEEDED);
    expect(await leftOf(id)).toEqual([]);
    await expectTreeStatus(t.pid, 'running');
    await t.query();
  });

  it('a client cancelling mid-restore stops CRIU and leaves no half-restored tree', async () => {
    const t = await startTarget({ children: 1, extraMiB: 512 });
    const id = newId('rst-cancel');
    await dump({ pid: t.pid, checkpoint_id: id });
    await waitGone(t.allPids);
    const dir = path.join(agent.stateDir, 'checkpoints', id);
    const restoreLogs = (): string[] => fs.readdirSync(dir).filter((n) => n.startsWith('restore-'));

    // Cancel once CRIU is at work (its log exists): the agent first checks the
    // images' digests, which takes a while for 512 MiB.
    const result = new Promise<grpc.ServiceError | null>((resolve) => {
      const c = agent.client.Restore({ checkpoint_id: id }, (err) => resolve(err));
      void (async () => {
        for (let i = 0; i < 400 && restoreLogs().length === 0; i++) await new Promise((res) => setTimeout(res, 10));
        await new Promise((res) => setTimeout(res, 150));
        c.cancel();
      })();
    });
    expect((await result)?.code).toBe(grpc.status.CANCELLED);
    const logs = restoreLogs();
    expect(logs).toHaveLength(1);
    // Whatever CRIU had started is killed; PID 1 reaps it within a few seconds.
    await waitGone(t.allPids);
    expect(fs.readFileSync(path.join(dir, logs[0] ?? ''), 'utf8')).not.toMatch(/Restore finished successfully/);
    // The checkpoint is intact and restores once nothing interrupts it.
    const r = await restore({ checkpoint_id: id });
    expect(r.pid).toBe(t.pid);
    await expectTreeStatus(t.pid, 'running');
    const s = await t.query(5000);
    expect(s.mem_sha256_now).toBe(s.mem_sha256_at_start);
  });

  it('leaves no zombie CRIU workers behind', async () => {
    await call(agent.client, 'Check', {});
    await new Promise((res) => setTimeout(res, 200));
    const snap = await snapshotTree(agent.pid);
    const zombies = (snap?.processes ?? []).slice(1).filter((p) => p.tasks.every((task) => task.state === 'zombie'));
    expect(zombies).toEqual([]);
  });
});

describe('stopping', () => {
  it('on SIGTERM finishes the dumps in flight on every listener, then removes its socket', async () => {
    const stopping = await startAgent({ args: ['--listen', '127.0.0.1:0'] });
    const proto = grpc.loadPackageDefinition(loadAgentPackageDefinition()) as unknown as ProtoGrpcType;
    const tcp = new proto.criu_agent.v1.CheckpointAgent(stopping.tcpAddress(), grpc.credentials.createInsecure());
    try {
      const [a, b] = await Promise.all([startTarget({ children: 1, extraMiB: 256 }), startTarget({ children: 1, extraMiB: 256 })]);
      const ids = [newId('sigterm-unix'), newId('sigterm-tcp')];
      const dumps = [
        call<DumpResponse__Output>(stopping.client, 'Dump', { pid: a.pid, checkpoint_id: ids[0], final_state: 'FINAL_STATE_RUNNING' }),
        call<DumpResponse__Output>(tcp, 'Dump', { pid: b.pid, checkpoint_id: ids[1], final_state: 'FINAL_STATE_RUNNING' }),
      ];
      const checkpoints = path.join(stopping.stateDir, 'checkpoints');
      const criuRunning = (id: string): boolean =>
        fs.existsSync(checkpoints) && fs.readdirSync(checkpoints).some((n) => n.startsWith(`.tmp-${id}-`) && hasDumpLog(path.join(checkpoints, n)));
      for (let i = 0; i < 1000 && !ids.every(criuRunning); i++) await new Promise((res) => setTimeout(res, 10));
      let answered = 0;
      for (const d of dumps) void d.then(() => answered++, () => answered++);
      // The point is a stop with both dumps still in CRIU's hands.
      expect(answered).toBe(0);
      await stopping.stop('SIGTERM');
      const replies = await Promise.all(dumps);
      expect(replies.map((r) => r.checkpoint_id)).toEqual(ids);
      expect(fs.existsSync(stopping.socket)).toBe(false);
      for (const id of ids) expect(fs.existsSync(path.join(checkpoints, id, 'checkpoint.json'))).toBe(true);
    } finally {
      tcp.close();
      await stopping.dispose();
    }
  });
});
