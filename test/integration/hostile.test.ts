/**
 * Hostile input (issue #5): malformed, out-of-range and malicious requests
 * against a real agent, each with the exact gRPC status and a message a
 * person can act on; checkpoint directories tampered with on disk (parents
 * forming a cycle, files replaced by symlinks, a checkpoint directory that is
 * a symlink); and afterwards the agent still serves: Check answers and a real
 * tree dumps.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CheckResponse__Output } from '../../src/generated/criu_agent/v1/CheckResponse';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import type { ListCheckpointsResponse__Output } from '../../src/generated/criu_agent/v1/ListCheckpointsResponse';
import type { DeleteCheckpointResponse__Output } from '../../src/generated/criu_agent/v1/DeleteCheckpointResponse';
import { pidInUse, readProcess, readStat, waitForTreeStatus } from '../../src/proctree';
import { call, expectStatus, startAgent, type AgentProcess, type Method } from '../helpers/agent';
import { killAllTargets, startTarget, type Target } from '../helpers/target';

jest.setTimeout(180_000);

const { INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, PERMISSION_DENIED, DATA_LOSS, RESOURCE_EXHAUSTED, INTERNAL } = grpc.status;

/** What the cases refer to, set up in beforeAll. */
interface Ctx {
  agent: AgentProcess;
  /** A running target tree (root and one child). */
  target: Target;
  /** A tid of the target's root that is not the root's own. */
  targetThread: number;
  /** A tid of the agent that is not its main thread. */
  agentThread: number;
  /** A zombie: exited, never reaped by its parent. */
  zombie: number;
  /** A pid nothing holds. */
  freePid: number;
  /** A complete Dump checkpoint of the target (made RUNNING). */
  base: string;
  /** Tampered copies of base, see craft(). */
  cycleA: string;
  selfCycle: string;
  orphan: string;
  preDump: string;
  symlinkedFile: string;
  /** A checkpoint directory that is a symlink to base's. */
  symlinkedDir: string;
  memTrack: boolean;
}

interface Case {
  name: string;
  method: Method;
  req: (c: Ctx) => object;
  code: grpc.status;
  message: RegExp | ((c: Ctx) => RegExp);
  /** Leave the case out when this says so (a kernel feature this machine may have). */
  skip?: (c: Ctx) => boolean;
}

const tag = `${process.pid}`;
let seq = 0;
const newId = (what: string): string => `${what}-${tag}-${seq++}`;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const KB10 = 10 * 1024;

/** A Dump request for the running target with one field replaced. */
const dumpOf = (c: Ctx, over: object = {}): object => ({ pid: c.target.pid, checkpoint_id: newId('h'), final_state: 'FINAL_STATE_RUNNING', ...over });
const withOptions = (options: object) => (c: Ctx) => dumpOf(c, { options });

/** n entries of exactly `bytes` bytes each, all different. */
const entries = (n: number, bytes: number, prefix: string): string[] =>
  Array.from({ length: n }, (_, i) => {
    const head = `${prefix}[${i}]:`;
    return head + 'x'.repeat(bytes - head.length);
  });

const CASES: Case[] = [
  // --- pids -----------------------------------------------------------------
  { name: 'Dump pid -1', method: 'Dump', req: (c) => dumpOf(c, { pid: -1 }), code: INVALID_ARGUMENT, message: /^pid must be a positive process id, got -1$/ },
  { name: 'Dump pid 0 (unset)', method: 'Dump', req: (c) => dumpOf(c, { pid: 0 }), code: INVALID_ARGUMENT, message: /^pid must be a positive process id, got 0 \(is it set\?\)$/ },
  { name: 'Dump pid -2^31', method: 'Dump', req: (c) => dumpOf(c, { pid: -(2 ** 31) }), code: INVALID_ARGUMENT, message: /pid must be a positive process id, got -2147483648/ },
  { name: 'Dump pid 2^31-1', method: 'Dump', req: (c) => dumpOf(c, { pid: 2 ** 31 - 1 }), code: INVALID_ARGUMENT, message: /^pid 2147483647 is larger than any Linux pid \(at most 4194303/ },
  { name: 'Dump pid 4194305', method: 'Dump', req: (c) => dumpOf(c, { pid: 4_194_305 }), code: INVALID_ARGUMENT, message: /^pid 4194305 is larger than any Linux pid/ },
  { name: 'Dump pid 4194304 (PID_MAX_LIMIT itself)', method: 'Dump', req: (c) => dumpOf(c, { pid: 4_194_304 }), code: INVALID_ARGUMENT, message: /PID_MAX_LIMIT is 4194304/ },
  { name: 'Continue pid -5', method: 'Continue', req: () => ({ pid: -5 }), code: INVALID_ARGUMENT, message: /^pid must be a positive process id, got -5$/ },
  { name: 'Continue pid 2^31-1', method: 'Continue', req: () => ({ pid: 2 ** 31 - 1 }), code: INVALID_ARGUMENT, message: /larger than any Linux pid/ },
  { name: 'Dump pid 1', method: 'Dump', req: (c) => dumpOf(c, { pid: 1 }), code: PERMISSION_DENIED, message: /refusing to touch pid 1 \(the init process/ },
  { name: 'Dump pid 2 (kthreadd)', method: 'Dump', req: (c) => dumpOf(c, { pid: 2 }), code: PERMISSION_DENIED, message: /pid 2: it is a kernel thread/ },
  { name: 'Continue pid 2 (kthreadd)', method: 'Continue', req: () => ({ pid: 2 }), code: PERMISSION_DENIED, message: /kernel thread/ },
  { name: 'Dump the agent', method: 'Dump', req: (c) => dumpOf(c, { pid: c.agent.pid }), code: PERMISSION_DENIED, message: /it is the agent itself/ },
  { name: 'Continue the agent', method: 'Continue', req: (c) => ({ pid: c.agent.pid }), code: PERMISSION_DENIED, message: /it is the agent itself/ },
  {
    name: "Dump a thread of the agent",
    method: 'Dump',
    req: (c) => dumpOf(c, { pid: c.agentThread }),
    code: PERMISSION_DENIED,
    message: (c) => new RegExp(`pid ${c.agentThread}: it is a thread of the agent itself \\(pid ${c.agent.pid}\\)`),
  },
  { name: 'Continue a thread of the agent', method: 'Continue', req: (c) => ({ pid: c.agentThread }), code: PERMISSION_DENIED, message: /thread of the agent/ },
  {
    // This jest process is the agent's parent: the guard must refuse it
    // before anything freezes it (the test would hang if it froze).
    name: "Dump the agent's parent (this test process)",
    method: 'Dump',
    req: (c) => dumpOf(c, { pid: process.pid }),
    code: PERMISSION_DENIED,
    message: (c) => new RegExp(`tree of pid ${process.pid}: the agent itself is part of it \\(pid ${process.pid} is the agent's parent, pid ${c.agent.pid}\\)`),
  },
  { name: "PreDump the agent's parent", method: 'PreDump', req: () => ({ pid: process.pid, checkpoint_id: newId('h') }), code: PERMISSION_DENIED, message: /the agent itself is part of it/ },
  { name: "Continue the agent's parent", method: 'Continue', req: () => ({ pid: process.pid }), code: PERMISSION_DENIED, message: /the agent itself is part of it/ },
  {
    name: "Dump the agent's grandparent",
    method: 'Dump',
    req: (c) => dumpOf(c, { pid: process.ppid }),
    code: PERMISSION_DENIED,
    // Under a runner whose parent is init, the grandparent is pid 1.
    message: process.ppid === 1 ? /pid 1/ : /the agent itself is part of it \(pid \d+ is an ancestor of the agent, 2 levels up/,
  },
  { name: 'Dump a zombie', method: 'Dump', req: (c) => dumpOf(c, { pid: c.zombie }), code: FAILED_PRECONDITION, message: /is a zombie waiting for its parent \(pid \d+\) to reap it/ },
  { name: 'PreDump a zombie', method: 'PreDump', req: (c) => ({ pid: c.zombie, checkpoint_id: newId('h') }), code: FAILED_PRECONDITION, message: /zombie/ },
  { name: 'Continue a zombie', method: 'Continue', req: (c) => ({ pid: c.zombie }), code: FAILED_PRECONDITION, message: /is a zombie waiting for its parent/ },
  { name: 'Dump a pid nothing holds', method: 'Dump', req: (c) => dumpOf(c, { pid: c.freePid }), code: NOT_FOUND, message: (c) => new RegExp(`^no process with pid ${c.freePid} on this node$`) },
  {
    name: "Dump a thread of the target (a tid, not a process)",
    method: 'Dump',
    req: (c) => dumpOf(c, { pid: c.targetThread }),
    code: NOT_FOUND,
    message: (c) => new RegExp(`${c.targetThread} is a thread of process ${c.target.pid}; name a process`),
  },
  { name: 'Continue a running tree', method: 'Continue', req: (c) => ({ pid: c.target.pid }), code: FAILED_PRECONDITION, message: /is running, not stopped; Continue only resumes/ },

  // --- checkpoint ids ---------------------------------------------------------
  { name: "Dump id ''", method: 'Dump', req: (c) => dumpOf(c, { checkpoint_id: '' }), code: INVALID_ARGUMENT, message: /^checkpoint_id is required: name the checkpoint/ },
  ...(
    [
      ['with /', 'a/b'],
      ['../etc', '../etc'],
      ['..', '..'],
      ['with .. inside', 'a..b'],
      ['with NUL', 'nul\0byte'],
      ['with newline', 'line\nbreak'],
      ['unicode', 'ünïcødé'],
      ['right-to-left override', 'abc\u202Egpj.exe'],
      ['leading .', '.hidden'],
      ['leading -', '-rf'],
      ['with a space', 'a b'],
    ] as const
  ).map(
    ([what, id]): Case => ({
      name: `Dump id ${what}`,
      method: 'Dump',
      req: (c) => dumpOf(c, { checkpoint_id: id }),
      code: INVALID_ARGUMENT,
      message: new RegExp(`^checkpoint_id ${escape(JSON.stringify(id))} is not a valid checkpoint id: use letters, digits`),
    }),
  ),
  { name: 'Dump id of 10 KB', method: 'Dump', req: (c) => dumpOf(c, { checkpoint_id: 'x'.repeat(KB10) }), code: INVALID_ARGUMENT, message: /^checkpoint_id is 10240 characters long; at most 128 are allowed$/ },
  { name: 'Dump id of 129 characters', method: 'Dump', req: (c) => dumpOf(c, { checkpoint_id: 'x'.repeat(129) }), code: INVALID_ARGUMENT, message: /129 characters long; at most 128/ },
  { name: 'Dump parent id of 10 KB', method: 'Dump', req: (c) => dumpOf(c, { parent_checkpoint_id: 'p'.repeat(KB10) }), code: INVALID_ARGUMENT, message: /^parent_checkpoint_id is 10240 characters long; at most 128/ },
  { name: 'Dump parent id ../x', method: 'Dump', req: (c) => dumpOf(c, { parent_checkpoint_id: '../x' }), code: INVALID_ARGUMENT, message: /^parent_checkpoint_id "\.\.\/x" is not a valid checkpoint id/ },
  { name: 'Dump parent id equal to the id', method: 'Dump', req: (c) => dumpOf(c, { checkpoint_id: 'same', parent_checkpoint_id: 'same' }), code: INVALID_ARGUMENT, message: /^parent_checkpoint_id same is the checkpoint this request makes/ },
  { name: 'Dump on a parent that does not exist', method: 'Dump', req: (c) => dumpOf(c, { parent_checkpoint_id: `nope-${tag}` }), code: NOT_FOUND, message: new RegExp(`^parent checkpoint nope-${tag} does not exist$`) },
  { name: 'Dump on a parent that is a Dump', method: 'Dump', req: (c) => dumpOf(c, { parent_checkpoint_id: c.base }), code: FAILED_PRECONDITION, message: (c) => new RegExp(`parent checkpoint ${c.base} is a dump; only a PreDump can be built on`) },
  { name: 'PreDump on a parent that is a Dump', method: 'PreDump', req: (c) => ({ pid: c.target.pid, checkpoint_id: newId('h'), parent_checkpoint_id: c.base }), code: FAILED_PRECONDITION, message: /only a PreDump can be built on/ },
  { name: 'GetCheckpoint id a/b', method: 'GetCheckpoint', req: () => ({ checkpoint_id: 'a/b' }), code: INVALID_ARGUMENT, message: /^checkpoint_id "a\/b" is not a valid checkpoint id/ },
  { name: 'GetCheckpoint id of 10 KB', method: 'GetCheckpoint', req: () => ({ checkpoint_id: 'g'.repeat(KB10) }), code: INVALID_ARGUMENT, message: /10240 characters long/ },
  { name: 'GetCheckpoint unknown id', method: 'GetCheckpoint', req: () => ({ checkpoint_id: `unknown-${tag}` }), code: NOT_FOUND, message: new RegExp(`^checkpoint unknown-${tag} does not exist$`) },
  { name: "DeleteCheckpoint id ''", method: 'DeleteCheckpoint', req: () => ({ checkpoint_id: '' }), code: INVALID_ARGUMENT, message: /^checkpoint_id is required/ },
  { name: 'DeleteCheckpoint id ../../etc', method: 'DeleteCheckpoint', req: () => ({ checkpoint_id: '../../etc', cascade: true }), code: INVALID_ARGUMENT, message: /is not a valid checkpoint id/ },
  { name: 'DeleteCheckpoint unknown id', method: 'DeleteCheckpoint', req: () => ({ checkpoint_id: `unknown-${tag}` }), code: NOT_FOUND, message: /^checkpoint unknown-\d+ does not exist$/ },

  // --- enums ----------------------------------------------------------------
  { name: 'Dump final_state 7', method: 'Dump', req: (c) => dumpOf(c, { final_state: 7 }), code: INVALID_ARGUMENT, message: /^final_state 7 is not one of FINAL_STATE_UNSPECIFIED, FINAL_STATE_RUNNING, FINAL_STATE_STOPPED, FINAL_STATE_DEAD$/ },
  { name: 'Dump final_state -1', method: 'Dump', req: (c) => dumpOf(c, { final_state: -1 }), code: INVALID_ARGUMENT, message: /^final_state -1 is not one of/ },
  { name: 'Restore final_state 7', method: 'Restore', req: (c) => ({ checkpoint_id: c.base, final_state: 7 }), code: INVALID_ARGUMENT, message: /^final_state 7 is not one of/ },
  { name: 'Restore final_state DEAD', method: 'Restore', req: (c) => ({ checkpoint_id: c.base, final_state: 'FINAL_STATE_DEAD' }), code: INVALID_ARGUMENT, message: /DEAD is not valid for Restore/ },
  { name: 'Dump manage_cgroups_mode 7', method: 'Dump', req: withOptions({ manage_cgroups_mode: 7 }), code: INVALID_ARGUMENT, message: /^options\.manage_cgroups_mode 7 is not one of CGROUP_MODE_UNSPECIFIED, .*CGROUP_MODE_STRICT$/ },
  { name: 'Dump manage_cgroups_mode -1', method: 'Dump', req: withOptions({ manage_cgroups_mode: -1 }), code: INVALID_ARGUMENT, message: /^options\.manage_cgroups_mode -1 is not one of/ },
  { name: 'Dump network_lock 9', method: 'Dump', req: withOptions({ network_lock: 9 }), code: INVALID_ARGUMENT, message: /^options\.network_lock 9 is not one of NETWORK_LOCK_UNSPECIFIED, .*NETWORK_LOCK_SKIP$/ },
  { name: 'Restore network_lock -1', method: 'Restore', req: (c) => ({ checkpoint_id: c.base, options: { network_lock: -1 } }), code: INVALID_ARGUMENT, message: /^options\.network_lock -1 is not one of/ },
  { name: 'Restore manage_cgroups_mode 6', method: 'Restore', req: (c) => ({ checkpoint_id: c.base, options: { manage_cgroups_mode: 6 } }), code: INVALID_ARGUMENT, message: /^options\.manage_cgroups_mode 6/ },

  // --- options --------------------------------------------------------------
  { name: 'Dump tcp_established with tcp_close', method: 'Dump', req: withOptions({ tcp_established: true, tcp_close: true }), code: INVALID_ARGUMENT, message: /^options\.tcp_established and options\.tcp_close exclude each other/ },
  { name: 'Restore tcp_established with tcp_close', method: 'Restore', req: (c) => ({ checkpoint_id: c.base, options: { tcp_established: true, tcp_close: true } }), code: INVALID_ARGUMENT, message: /exclude each other/ },
  { name: 'Dump ext_sharing without auto_ext_mnt', method: 'Dump', req: withOptions({ ext_sharing: true }), code: INVALID_ARGUMENT, message: /^options\.ext_sharing only applies to mounts found by options\.auto_ext_mnt/ },
  { name: 'Dump external with 10 000 entries', method: 'Dump', req: withOptions({ external: entries(10_000, 16, 'unix') }), code: INVALID_ARGUMENT, message: /^options\.external has 10000 entries; at most 256 are allowed$/ },
  { name: 'Dump external with 257 entries', method: 'Dump', req: withOptions({ external: entries(257, 16, 'unix') }), code: INVALID_ARGUMENT, message: /has 257 entries; at most 256/ },
  { name: 'Dump external entry of 10 KB', method: 'Dump', req: withOptions({ external: ['mnt[/a]:' + 'a'.repeat(KB10)] }), code: INVALID_ARGUMENT, message: /^options\.external\[0\] is 10248 bytes long; at most 4096 bytes are allowed$/ },
  { name: 'Dump external entry of 4098 bytes in 2049 characters', method: 'Dump', req: withOptions({ external: ['ok', 'é'.repeat(2049)] }), code: INVALID_ARGUMENT, message: /^options\.external\[1\] is 4098 bytes long/ },
  { name: 'Dump external entry with NUL', method: 'Dump', req: withOptions({ external: ['unix[1]\0mnt[/]:x'] }), code: INVALID_ARGUMENT, message: /^options\.external\[0\] "unix\[1\]\\u0000mnt.*contains a NUL byte/ },
  { name: 'Dump skip_mnt entry with NUL', method: 'Dump', req: withOptions({ skip_mnt: ['/proc', '/sys\0'] }), code: INVALID_ARGUMENT, message: /^options\.skip_mnt\[1\] .*NUL byte/ },
  { name: 'Dump enable_fs empty entry', method: 'Dump', req: withOptions({ enable_fs: [''] }), code: INVALID_ARGUMENT, message: /^options\.enable_fs\[0\] is empty/ },
  { name: 'Restore external entry with NUL', method: 'Restore', req: (c) => ({ checkpoint_id: c.base, options: { external: ['veth[eth0]:\0'] } }), code: INVALID_ARGUMENT, message: /^options\.external\[0\] .*NUL byte/ },
  { name: 'Dump freeze_timeout_seconds 2^32-1', method: 'Dump', req: withOptions({ freeze_timeout_seconds: 2 ** 32 - 1 }), code: INVALID_ARGUMENT, message: /^options\.freeze_timeout_seconds 4294967295 is too long: at most 3600 s/ },

  // --- the kernel -------------------------------------------------------------
  {
    name: 'PreDump DEAD without soft-dirty',
    method: 'PreDump',
    req: (c) => ({ pid: c.target.pid, checkpoint_id: newId('h'), final_state: 'FINAL_STATE_DEAD' }),
    code: FAILED_PRECONDITION,
    message: /PreDump needs kernel memory tracking \(soft-dirty page bits, CONFIG_MEM_SOFT_DIRTY\)/,
    skip: (c) => c.memTrack,
  },

  // --- checkpoints tampered with on disk --------------------------------------
  { name: 'Restore unknown id', method: 'Restore', req: () => ({ checkpoint_id: `unknown-${tag}` }), code: NOT_FOUND, message: /^checkpoint unknown-\d+ does not exist$/ },
  { name: 'Restore a pre-dump', method: 'Restore', req: (c) => ({ checkpoint_id: c.preDump }), code: FAILED_PRECONDITION, message: /is a pre-dump, which holds memory only/ },
  { name: 'Restore parents forming a cycle', method: 'Restore', req: (c) => ({ checkpoint_id: c.cycleA }), code: DATA_LOSS, message: (c) => new RegExp(`^checkpoint ${c.cycleA}: its parents form a cycle at ${c.cycleA}$`) },
  { name: 'Restore a checkpoint that is its own parent', method: 'Restore', req: (c) => ({ checkpoint_id: c.selfCycle }), code: DATA_LOSS, message: /its parents form a cycle/ },
  { name: 'Restore a checkpoint whose parent is gone', method: 'Restore', req: (c) => ({ checkpoint_id: c.orphan }), code: DATA_LOSS, message: /builds on gone-\d+, which is missing/ },
  { name: 'Restore files replaced by symlinks', method: 'Restore', req: (c) => ({ checkpoint_id: c.symlinkedFile }), code: DATA_LOSS, message: /does not match its recorded digest .*a symlink to .* replaced the regular file/ },
  { name: 'Restore a checkpoint directory that is a symlink', method: 'Restore', req: (c) => ({ checkpoint_id: c.symlinkedDir }), code: NOT_FOUND, message: /^checkpoint symdir-\d+ does not exist$/ },
  { name: 'GetCheckpoint a checkpoint directory that is a symlink', method: 'GetCheckpoint', req: (c) => ({ checkpoint_id: c.symlinkedDir }), code: NOT_FOUND, message: /does not exist/ },

  // --- sizes ----------------------------------------------------------------
  {
    // Every field at its maximum, the whole just under the 1 MiB limit: accepted, and answered for what it asks.
    name: 'Dump with every field at its largest (under 1 MiB)',
    method: 'Dump',
    req: (c) => ({
      pid: c.freePid,
      checkpoint_id: 'i'.repeat(128),
      parent_checkpoint_id: 'p'.repeat(128),
      final_state: 'FINAL_STATE_STOPPED',
      options: {
        external: entries(256, 1300, 'unix'),
        skip_mnt: entries(256, 1300, '/mnt'),
        enable_fs: entries(256, 1300, 'fs'),
        ghost_limit: 2 ** 32 - 1,
        freeze_timeout_seconds: 3600,
        manage_cgroups_mode: 'CGROUP_MODE_STRICT',
        network_lock: 'NETWORK_LOCK_SKIP',
      },
    }),
    code: NOT_FOUND,
    message: (c) => new RegExp(`^no process with pid ${c.freePid} on this node$`),
  },
  {
    name: 'Dump with 200 entries of 4096 bytes',
    method: 'Dump',
    req: (c) => ({ pid: c.freePid, checkpoint_id: newId('h'), options: { external: entries(200, 4096, 'unix') } }),
    code: NOT_FOUND,
    message: /no process with pid/,
  },
  {
    name: 'Restore with every field at its largest (under 1 MiB)',
    method: 'Restore',
    req: () => ({
      checkpoint_id: 'r'.repeat(128),
      final_state: 'FINAL_STATE_STOPPED',
      options: { external: entries(256, 1300, 'veth'), skip_mnt: entries(256, 1300, '/mnt'), enable_fs: entries(256, 1300, 'fs') },
    }),
    code: NOT_FOUND,
    message: /^checkpoint r{128} does not exist$/,
  },
  { name: 'Dump larger than 1 MiB', method: 'Dump', req: (c) => dumpOf(c, { checkpoint_id: 'x'.repeat(2 << 20) }), code: RESOURCE_EXHAUSTED, message: /Received message larger than max \(\d+ vs 1048576\)/ },
  { name: 'Dump 1 MiB of options', method: 'Dump', req: withOptions({ external: entries(256, 4096, 'unix') }), code: RESOURCE_EXHAUSTED, message: /larger than max/ },
];

const ctx = {} as Ctx;
const dumpCall = (req: object): Promise<DumpResponse__Output> => call<DumpResponse__Output>(ctx.agent.client, 'Dump', req);

/** Copies base into a new checkpoint directory, with its manifest's id set and edited. */
function craft(id: string, edit: (m: Record<string, unknown>, dir: string) => void = () => undefined): string {
  const checkpoints = path.join(ctx.agent.stateDir, 'checkpoints');
  const dir = path.join(checkpoints, id);
  fs.cpSync(path.join(checkpoints, ctx.base), dir, { recursive: true, verbatimSymlinks: true });
  const file = path.join(dir, 'checkpoint.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  m.id = id;
  edit(m, dir);
  fs.writeFileSync(file, JSON.stringify(m, null, 2));
  return id;
}

/** A python process that forks a child which exits at once and is never reaped. */
async function startZombieParent(): Promise<{ parent: ChildProcess; zombie: number }> {
  const prog = 'import os, sys, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(600)\n';
  const parent = spawn('/usr/bin/python3', ['-c', prog], { stdio: ['ignore', 'pipe', 'ignore'] });
  const zombie = await new Promise<number>((resolve, reject) => {
    let out = '';
    parent.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    parent.once('exit', () => reject(new Error('the zombie maker exited early')));
  });
  for (let i = 0; i < 200; i++) {
    const p = await readProcess(zombie);
    if (p?.tasks.every((t) => t.state === 'zombie')) return { parent, zombie };
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`pid ${zombie} did not become a zombie`);
}

let zombieParent: ChildProcess | undefined;

beforeAll(async () => {
  ctx.agent = await startAgent({ args: ['--pid-wait-ms', '200'] });
  ctx.target = await startTarget({ children: 1 });
  const tids = fs.readdirSync(`/proc/${ctx.target.pid}/task`).map(Number);
  ctx.targetThread = tids.find((t) => t !== ctx.target.pid) ?? 0;
  ctx.agentThread = fs.readdirSync(`/proc/${ctx.agent.pid}/task`).map(Number).find((t) => t !== ctx.agent.pid) ?? 0;
  expect(ctx.targetThread).toBeGreaterThan(0);
  expect(ctx.agentThread).toBeGreaterThan(0);
  const z = await startZombieParent();
  zombieParent = z.parent;
  ctx.zombie = z.zombie;
  let pid = 4_000_000;
  while (await pidInUse(pid)) pid++;
  ctx.freePid = pid;
  ctx.memTrack = (await call<CheckResponse__Output>(ctx.agent.client, 'Check', {})).mem_track;

  ctx.base = newId('base');
  await dumpCall({ pid: ctx.target.pid, checkpoint_id: ctx.base, final_state: 'FINAL_STATE_RUNNING' });
  const a = `cyc-a-${tag}`;
  const b = `cyc-b-${tag}`;
  ctx.cycleA = craft(a, (m) => (m.parentId = b));
  craft(b, (m) => {
    m.kind = 'pre-dump';
    m.parentId = a;
  });
  ctx.selfCycle = craft(`self-${tag}`, (m) => (m.parentId = `self-${tag}`));
  ctx.orphan = craft(`orphan-${tag}`, (m) => (m.parentId = `gone-${tag}`));
  ctx.preDump = craft(`pre-${tag}`, (m) => (m.kind = 'pre-dump'));
  ctx.symlinkedFile = craft(`symfile-${tag}`, (m, dir) => {
    // Every image replaced by a symlink to the identical file of base.
    const files = m.files as { path: string; symlink?: string }[];
    for (const f of files.filter((x) => x.symlink === undefined && x.path.endsWith('.img'))) {
      fs.rmSync(path.join(dir, f.path));
      fs.symlinkSync(path.join(ctx.agent.stateDir, 'checkpoints', ctx.base, f.path), path.join(dir, f.path));
    }
  });
  ctx.symlinkedDir = `symdir-${tag}`;
  fs.symlinkSync(ctx.base, path.join(ctx.agent.stateDir, 'checkpoints', ctx.symlinkedDir));
});

afterAll(async () => {
  zombieParent?.kill('SIGKILL');
  await killAllTargets();
  await ctx.agent?.dispose();
});

describe('hostile requests', () => {
  it('has at least 50 cases, all named differently', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(50);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    if (c.skip?.(ctx)) return;
    const started = Date.now();
    const err = await expectStatus(call(ctx.agent.client, c.method, c.req(ctx)), c.code, typeof c.message === 'function' ? c.message(ctx) : c.message);
    // A person can act on it: a sentence, not a stack trace or an empty string.
    expect(err.details.length).toBeGreaterThan(10);
    expect(err.details).not.toMatch(/\n\s+at /);
    // Validation answers at once; nothing waited for CRIU or a frozen tree.
    expect(Date.now() - started).toBeLessThan(10_000);
    // The target and this process are as they were.
    expect((await waitForTreeStatus(ctx.target.pid, 'running', 1000)).status).toBe('running');
    expect((await readStat(process.pid))?.state).not.toMatch(/[Tt]/);
  });
});

describe('bytes that are no request at all', () => {
  /** Sends raw bytes as the request of `method`, bypassing the client's serializer. */
  function raw(method: Method, bytes: Buffer): Promise<unknown> {
    const client = new grpc.Client(`unix:${ctx.agent.socket}`, grpc.credentials.createInsecure());
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        `/criu_agent.v1.CheckpointAgent/${method}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        (err, res) => {
          client.close();
          if (err) reject(err);
          else resolve(res);
        },
      );
    });
  }

  it('unknown fields are skipped: a Continue of pid 1 with field 99 is still refused as pid 1', async () => {
    // field 1 (pid) = 1, field 99 (length-delimited) = "x"
    const bytes = Buffer.from([0x08, 0x01, 0x9a, 0x06, 0x01, 0x78]);
    await expectStatus(raw('Continue', bytes), PERMISSION_DENIED, /pid 1/);
  });

  it('a field repeated keeps the last value: pid 4 then pid 0 is refused as 0', async () => {
    await expectStatus(raw('Continue', Buffer.from([0x08, 0x04, 0x08, 0x00])), INVALID_ARGUMENT, /got 0/);
  });

  it('a string sent with the varint wire type is read as a string all the same, and checked as one', async () => {
    // GetCheckpoint field 1 with wire type 0: protobufjs reads a length and the bytes anyway.
    await expectStatus(raw('GetCheckpoint', Buffer.from([0x08, 0x03, 0x2e, 0x2e, 0x2f])), INVALID_ARGUMENT, /^checkpoint_id "\.\.\/" is not a valid/);
  });

  it('an id with NUL and slashes, sent raw', async () => {
    await expectStatus(raw('GetCheckpoint', Buffer.from([0x0a, 0x05, 0x61, 0x00, 0x2f, 0x2e, 0x2e])), INVALID_ARGUMENT, /^checkpoint_id "a\\u0000\/\.\." is not a valid/);
  });

  it('a string whose length runs past the end is cut short by protobufjs, and still checked', async () => {
    // field 1, length 127, but only ".." follows
    await expectStatus(raw('Restore', Buffer.from([0x0a, 0x7f, 0x2e, 0x2e])), INVALID_ARGUMENT, /^checkpoint_id "\.\." is not a valid/);
  });

  // grpc-js answers bytes protobufjs cannot decode itself, before any agent
  // code runs, with INTERNAL "Error deserializing request" (see the report in
  // issue #5: making it INVALID_ARGUMENT needs a deserializer wrapper in
  // src/server/server.ts). What matters here: the agent survives them.
  it.each([
    ['a truncated varint', 'Dump', [0x08, 0xff]],
    ['wire type 7', 'Dump', [0x0f]],
    ['an unknown field starting a group that never ends', 'Restore', [0x9b, 0x06, 0x08, 0x01]],
    ['a nested message with garbage', 'Dump', [0x2a, 0x02, 0xff, 0xff]],
  ] as const)('%s: INTERNAL from grpc-js, and the agent serves on', async (_what, method, bytes) => {
    await expectStatus(raw(method, Buffer.from(bytes)), INTERNAL, /^Error deserializing request/);
    await call(ctx.agent.client, 'Check', {});
  });
});

describe('afterwards', () => {
  it('the agent still serves: Check, ListCheckpoints with the tampered ones, and a real RUNNING dump', async () => {
    expect(() => process.kill(ctx.agent.pid, 0)).not.toThrow();
    const check = await call<CheckResponse__Output>(ctx.agent.client, 'Check', {});
    expect(check.criu_version).toMatch(/^\d+\.\d+/);
    const listed = (await call<ListCheckpointsResponse__Output>(ctx.agent.client, 'ListCheckpoints', {})).checkpoints.map((c) => c.checkpoint_id);
    expect(listed).toEqual(expect.arrayContaining([ctx.base, ctx.cycleA, ctx.selfCycle]));
    expect(listed).not.toContain(ctx.symlinkedDir);

    const id = newId('after');
    const r = await dumpCall({ pid: ctx.target.pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' });
    expect(r.final_state).toBe('FINAL_STATE_RUNNING');
    expect([...r.pids].sort()).toEqual([...ctx.target.allPids].sort());
    expect((await waitForTreeStatus(ctx.target.pid, 'running', 3000)).status).toBe('running');
    await ctx.target.query();
    expect(ctx.agent.output()).not.toMatch(/uncaught|unhandled/i);
  });
});

describe('manifests crafted to hang or loop the agent', () => {
  it('a checkpoint.json that is a symlink to a FIFO is DATA_LOSS at once, and the listing goes on', async () => {
    const id = craft(`fifo-${tag}`);
    const dir = path.join(ctx.agent.stateDir, 'checkpoints', id);
    const fifo = path.join(dir, 'manifest.fifo');
    execFileSync('mkfifo', [fifo]);
    fs.rmSync(path.join(dir, 'checkpoint.json'));
    fs.symlinkSync(fifo, path.join(dir, 'checkpoint.json'));
    await expectStatus(call(ctx.agent.client, 'GetCheckpoint', { checkpoint_id: id }), DATA_LOSS, /damaged or incomplete manifest/);
    const listed = (await call<ListCheckpointsResponse__Output>(ctx.agent.client, 'ListCheckpoints', {})).checkpoints.map((c) => c.checkpoint_id);
    expect(listed).toContain(ctx.base);
    expect(listed).not.toContain(id);
    expect((await call<DeleteCheckpointResponse__Output>(ctx.agent.client, 'DeleteCheckpoint', { checkpoint_id: id })).deleted).toEqual([id]);
  });

  it('a manifest whose parent is not a valid id is DATA_LOSS, not the caller’s INVALID_ARGUMENT', async () => {
    const id = craft(`badparent-${tag}`, (m) => (m.parentId = '../x'));
    await expectStatus(call(ctx.agent.client, 'Restore', { checkpoint_id: id }), DATA_LOSS, /parentId is not a valid checkpoint id/);
  });

  it('DeleteCheckpoint with cascade on parents forming a cycle ends, deleting both', async () => {
    const a = craft(`delcyc-a-${tag}`, (m) => {
      m.kind = 'pre-dump';
      m.parentId = `delcyc-b-${tag}`;
    });
    const b = craft(`delcyc-b-${tag}`, (m) => {
      m.kind = 'pre-dump';
      m.parentId = a;
    });
    const r = await call<DeleteCheckpointResponse__Output>(ctx.agent.client, 'DeleteCheckpoint', { checkpoint_id: a, cascade: true });
    expect([...r.deleted].sort()).toEqual([a, b].sort());
  });
});
