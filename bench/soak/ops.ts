/**
 * The soak's operations: one table, one entry per kind, each drawn with its
 * weight. An entry that needs an RPC names it, and is left out when the
 * agent's API does not define it (see README.md: "Adding an operation").
 */
import * as grpc from '@grpc/grpc-js';
import { pidInUse } from '../../src/proctree';
import type { CallResult } from './agent';
import { fateOf, LOST_ANSWER, sleep, type Soak } from './context';
import type { LedgerEntry } from './ledger';
import { promises as fsp } from 'node:fs';
import type { SoakAgent } from './agent';
import { lastPid, nodeProcesses, own, processTable, signalOwned, taskStates, type OwnedPid } from './procs';
import type { Rng } from './rng';
import { SHAPES, type SoakTarget, type TreeInfo } from './targets';

const S = grpc.status;

/** Deadlines: CRIU operations wait behind --max-concurrent-operations and a busy machine; control calls do not. */
export const CRIU_DEADLINE_MS = 90_000;
export const CONTROL_DEADLINE_MS = 15_000;

/** Trees the soak keeps alive, and checkpoints it keeps listed, before it favours retiring and deleting. */
export const POOL_MIN = 3;
export const POOL_MAX = 7;
export const CHECKPOINTS_MAX = 14;

export interface OpSpec {
  readonly name: string;
  /** Relative frequency; a function to adapt to the soak's state (0: not now). */
  readonly weight: number | ((soak: Soak) => number);
  /** The RPC the op needs; the op is left out when the agent's API lacks it. */
  readonly rpc?: string;
  run(soak: Soak, rng: Rng, worker: number): Promise<void>;
}

type Final = 'FINAL_STATE_RUNNING' | 'FINAL_STATE_STOPPED' | 'FINAL_STATE_DEAD' | 'FINAL_STATE_UNSPECIFIED';

let idCounter = 0;
function newId(rng: Rng, worker: number): string {
  return `soak-w${worker}-${++idCounter}-${rng.tag()}`;
}

/** A snapshot of what a checkpoint needs to check the tree it restores. */
function treeInfoOf(t: SoakTarget): TreeInfo {
  return { ...t.info, pids: t.owned.map((p) => p.pid) };
}

function pickFinal(rng: Rng): Final {
  return rng.weighted<Final>(['FINAL_STATE_RUNNING', 'FINAL_STATE_STOPPED', 'FINAL_STATE_DEAD', 'FINAL_STATE_UNSPECIFIED'], (f) =>
    f === 'FINAL_STATE_UNSPECIFIED' ? 1 : 3,
  ) as Final;
}

/** Leases a running tree, preferring shapes. */
function leaseRunning(soak: Soak, rng: Rng, prefer?: SoakTarget['info']['shape']): SoakTarget | undefined {
  if (prefer) {
    const t = soak.pool.lease(rng, (x) => x.expected === 'running' && x.info.shape === prefer);
    if (t) return t;
  }
  return soak.pool.lease(rng, (x) => x.expected === 'running');
}

/**
 * Checkpoint entries whose tree's pids are all free now: Restore can
 * recreate them. Idle ones only, judged again after the pid checks: another
 * worker may have taken one (a Delete) while they ran, and the caller marks
 * its pick busy before its next await.
 */
export async function restorable(soak: Soak, filter: (e: LedgerEntry) => boolean = () => true): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for (const e of soak.ledger.idle((x) => x.fate === 'present' && x.kind === 'dump' && !x.tree.pids.some((p) => soak.reservedPids.has(p)) && filter(x))) {
    let free = true;
    for (const pid of e.tree.pids) if (await pidInUse(pid)) free = false;
    if (free) out.push(e);
  }
  return out.filter((e) => !e.busy && e.fate === 'present' && !e.tree.pids.some((p) => soak.reservedPids.has(p)));
}

/**
 * After a Dump (or PreDump) of a leased tree: records the checkpoint's fate
 * and the tree's, and holds the tree to "no failure, cancel or crash may
 * harm a workload": unless the call asked for DEAD and a checkpoint exists,
 * the tree must be alive, and running unless STOPPED was asked for and got.
 */
export async function settleDump(
  soak: Soak,
  t: SoakTarget,
  id: string,
  final: Final,
  r: CallResult,
  kind: 'dump' | 'pre-dump',
  criuKilled = false,
): Promise<void> {
  const entry = soak.ledger.get(id) ?? soak.ledger.record(id, 'unknown', kind, treeInfoOf(t));
  // The soak SIGKILLed this Dump's CRIU: one that dies while its parasite
  // code runs inside a task takes that task with it (CRIU's design; no
  // agent can prevent it). The agent must say so in its answer; then the
  // lost tree is a casualty of the fault, counted, not a broken invariant.
  const casualty = criuKilled && r.code !== S.OK && r.details.includes('of the tree did not survive');
  const lost = LOST_ANSWER.has(r.code);
  entry.fate = fateOf(r, id);
  entry.busy = false;
  const effective = kind === 'pre-dump' ? 'FINAL_STATE_RUNNING' : final === 'FINAL_STATE_UNSPECIFIED' ? 'FINAL_STATE_DEAD' : final;

  if (r.code === S.OK) {
    if (effective === 'FINAL_STATE_DEAD') {
      if (!(await waitGone(soak, t, 10_000))) soak.surprise('dump DEAD: tree alive', `tree ${t.pid} after Dump ${id} answered DEAD`);
      await soak.pool.retire(t);
      return;
    }
    t.expected = effective === 'FINAL_STATE_STOPPED' ? 'stopped' : 'running';
    t.stoppedBy = effective === 'FINAL_STATE_STOPPED' ? `Dump ${id}` : undefined;
    await holdTree(soak, t, `after Dump ${id} answered OK`);
    return;
  }

  // Failed, refused, cancelled, or the agent died: the tree must run on
  // (CRIU is stopped and the tree resumed), unless a lost answer hid a dump
  // that completed as asked.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (casualty && ((await soak.pool.gone(t)) || (await soak.pool.inspect({ ...t, expected: 'running' }))?.kind === 'harmed')) {
      soak.surprise('criu-kill: tree lost with its CRIU', `Dump ${id}: ${r.details.slice(-300)}`);
      await soak.pool.retire(t);
      return;
    }
    if (await soak.pool.gone(t)) {
      const exists = lost && effective === 'FINAL_STATE_DEAD' && (await checkpointExists(soak, id));
      if (exists) {
        entry.fate = 'present';
        await soak.pool.forget(t);
        return;
      }
      soak.violation(
        'workload-unharmed',
        `Dump ${id} of tree ${t.pid} (${t.info.shape}, ${final}) answered ${grpc.status[r.code]} (${r.details.slice(0, 200)}) and the tree is dead`,
      );
      await soak.pool.forget(t);
      return;
    }
    const problem = await soak.pool.inspect({ ...t, expected: 'running' });
    if (problem === null) {
      t.expected = 'running';
      t.stoppedBy = undefined;
      return;
    }
    if (problem.kind === 'harmed') {
      // A tree on its way out after a DEAD dump that did complete (the answer lost) is no harm.
      if (lost && effective === 'FINAL_STATE_DEAD' && (await checkpointExists(soak, id))) {
        entry.fate = 'present';
        await soak.pool.retire(t);
        return;
      }
      soak.violation(
        'workload-unharmed',
        `after Dump ${id} (${final}) answered ${grpc.status[r.code]} (${r.details.slice(0, 200)}): ${problem.detail}`,
      );
      await soak.pool.retire(t);
      return;
    }
    if (lost && effective === 'FINAL_STATE_STOPPED' && problem.kind === 'stopped' && (await checkpointExists(soak, id, 1000))) {
      entry.fate = 'present';
      t.expected = 'stopped';
      t.stoppedBy = `Dump ${id} (answer lost)`;
      return;
    }
    if (Date.now() > deadline) {
      soak.violation(
        'no-tree-left-stopped',
        `after Dump ${id} answered ${grpc.status[r.code]} (${r.details.slice(0, 200)}): ${problem.detail}`,
      );
      // Let the rest of the soak go on with a usable tree.
      await soak.pool.retire(t);
      return;
    }
    await sleep(200);
  }
}

/** Checks a leased tree now; a broken one is reported and retired. Returns whether it is still in the pool. */
async function holdTree(soak: Soak, t: SoakTarget, when: string): Promise<boolean> {
  const problem = await soak.pool.inspect(t);
  const serving = problem === null ? await soak.pool.serves(t) : null;
  if (problem === null && serving === null) return true;
  if (problem) {
    soak.violation(problem.kind === 'harmed' ? 'workload-unharmed' : 'no-tree-left-stopped', `${when}: ${problem.detail}`);
  } else {
    soak.violation('workload-unharmed', `${when}: tree ${t.pid} (${t.info.shape}, ${t.origin}) does not serve as before: ${serving}`);
  }
  await soak.pool.retire(t);
  return false;
}

async function waitGone(soak: Soak, t: SoakTarget, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await soak.pool.gone(t))) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * Whether the agent has the checkpoint, asked until waitMs passed: a call
 * whose answer was lost may still be committing its checkpoint (the agent
 * keeps a dump CRIU finished, whose tree is gone), and the agent may be
 * restarting.
 */
async function checkpointExists(soak: Soak, id: string, waitMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = await soak.call(
      'settle.Get',
      'GetCheckpoint',
      { checkpoint_id: id },
      { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.OK, S.NOT_FOUND, S.UNAVAILABLE] },
    );
    if (r.code === S.OK) return true;
    if (Date.now() > deadline) return false;
    await sleep(500);
  }
}

/** A Dump of a leased running tree, settled. Exported for the faults, which run it with a fault on the side. */
export async function dumpTree(
  soak: Soak,
  t: SoakTarget,
  id: string,
  final: Final,
  label: string,
  extra: { cancelAfterMs?: number; deadlineMs?: number; expect?: grpc.status[]; criuKilled?: boolean } = {},
): Promise<CallResult> {
  soak.ledger.record(id, 'unknown', 'dump', treeInfoOf(t)).busy = true;
  const r = await soak.call(
    label,
    'Dump',
    { pid: t.pid, checkpoint_id: id, final_state: final },
    {
      deadlineMs: extra.deadlineMs ?? CRIU_DEADLINE_MS,
      cancelAfterMs: extra.cancelAfterMs,
      expect: extra.expect ?? [S.OK, S.RESOURCE_EXHAUSTED],
    },
  );
  await settleDump(soak, t, id, final, r, 'dump', extra.criuKilled);
  return r;
}

/**
 * A Restore of a checkpoint whose pids are free, settled: an OK tree is
 * checked and joins the pool; after a failure, none of the checkpoint's
 * pids may be held by a process of the soak's (a half-restored task).
 */
export async function restoreEntry(
  soak: Soak,
  e: LedgerEntry,
  final: 'FINAL_STATE_RUNNING' | 'FINAL_STATE_STOPPED',
  label: string,
  extra: { cancelAfterMs?: number; deadlineMs?: number; expect?: grpc.status[] } = {},
): Promise<CallResult> {
  e.busy = true;
  try {
    const r = await soak.call(
      label,
      'Restore',
      { checkpoint_id: e.id, final_state: final },
      {
        deadlineMs: extra.deadlineMs ?? CRIU_DEADLINE_MS,
        cancelAfterMs: extra.cancelAfterMs,
        expect: extra.expect ?? [S.OK, S.ALREADY_EXISTS],
      },
    );
    if (r.code === S.NOT_FOUND && e.fate === 'present') {
      soak.violation('nothing-acknowledged-lost', `Restore of acknowledged checkpoint ${e.id}: NOT_FOUND: ${r.details.slice(0, 200)}`);
      return r;
    }
    if (r.code === S.DATA_LOSS) {
      soak.violation('files-match-manifest', `Restore of ${e.id}: DATA_LOSS: ${r.details.slice(0, 300)}`);
      return r;
    }
    if (r.code === S.OK) {
      const res = r.res as { pids?: number[] };
      const pids = [...(res.pids ?? [])];
      const want = e.tree.pids;
      if ([...pids].sort().join() !== [...want].sort().join()) {
        soak.surprise('restore: other pids', `Restore ${e.id} answered pids ${pids.join(',')}, the checkpoint had ${want.join(',')}`);
      }
      await adoptRestored(soak, e, final, label);
      return r;
    }
    await noHalfRestored(soak, e, r, LOST_ANSWER.has(r.code));
    return r;
  } finally {
    e.busy = false;
  }
}

/**
 * Takes a restored tree into the pool and checks it. `final` undefined: the
 * answer was lost (the agent died after CRIU had restored the tree), so
 * either state is fine as long as the whole tree is in it.
 */
async function adoptRestored(soak: Soak, e: LedgerEntry, final: string | undefined, how: string): Promise<void> {
  let t: SoakTarget;
  try {
    const expected = final === undefined ? await observedState(e.tree.pids) : final === 'FINAL_STATE_STOPPED' ? 'stopped' : 'running';
    t = await soak.pool.adopt({ ...e.tree }, 'restored', expected, `Restore ${e.id}`);
  } catch (err) {
    soak.violation('restorable', `${how}: Restore of ${e.id} answered OK, but ${(err as Error).message}`);
    return;
  }
  if (await holdTree(soak, t, `after ${how} of ${e.id}`)) {
    e.restoresVerified++;
    soak.pool.release(t);
  }
}

/** 'stopped' when every task of the tree is stopped, else 'running' (a mix is then caught by the tree check). */
async function observedState(pids: readonly number[]): Promise<'running' | 'stopped'> {
  for (const pid of pids) {
    const tasks = await taskStates(pid);
    if (!tasks || tasks.some((x) => x.state !== 'T' && x.state !== 't')) return 'running';
  }
  return 'stopped';
}

/**
 * After a Restore that did not answer OK: none of the checkpoint's pids may
 * be left to a process of the soak's (the tasks CRIU had created are killed).
 * With the answer lost (cancel, agent killed), a restore that completed is
 * adopted instead, if whole.
 */
async function noHalfRestored(soak: Soak, e: LedgerEntry, r: CallResult, lost = false): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    await sleep(250);
    const table = await processTable();
    // Under the soak's root and no tree of the pool's: another Restore of the
    // same tree (another checkpoint, same pids) may hold them, whole and known.
    const known = new Set(soak.pool.all().flatMap((t) => t.owned.map((p) => p.pid)));
    const mine = new Set(soak.ownProcesses(table).map((p) => p.pid));
    const held = e.tree.pids.filter((pid) => mine.has(pid) && !known.has(pid));
    if (held.length === 0) return;
    if (lost && held.length === e.tree.pids.length && attempt >= 4) {
      soak.surprise('restore completed after the answer was lost', `Restore ${e.id} answered ${grpc.status[r.code]}`);
      await adoptRestored(soak, e, undefined, 'a Restore whose answer was lost');
      return;
    }
    if (attempt === 39) {
      soak.violation(
        'no-stray-process',
        `Restore of ${e.id} answered ${grpc.status[r.code]} (${r.details.slice(0, 200)}), but pids ${held.join(',')} of its tree are alive (${
          held.length === e.tree.pids.length
            ? 'the whole tree: restored, then the call failed'
            : `${held.length} of ${e.tree.pids.length}: half-restored`
        })`,
      );
      // Kill them: they are the soak's own tree, recreated by CRIU.
      for (const pid of held) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }
}

/** A free pid below the last one the kernel handed out: it will not be reused before the pid counter wraps. */
async function deadPid(soak: Soak, rng: Rng): Promise<number | undefined> {
  const last = await lastPid();
  const candidates = soak.pool.deadPids.filter((p) => p < last && !soak.reservedPids.has(p));
  const pid = rng.pick(candidates);
  if (pid === undefined || (await pidInUse(pid))) return undefined;
  return pid;
}

const BAD_IDS = ['', '..', '../escape', '.hidden', '-dash', 'a/b', 'x'.repeat(129), 'nul\u0000byte', 'sp ace', 'tab\tid'];

/** Hostile calls: each a request the agent must refuse precisely, or a call broken off on the client's side. */
const HOSTILE: Record<string, (soak: Soak, rng: Rng, worker: number) => Promise<void>> = {
  'bad-id': async (soak, rng) => {
    const id = rng.pick(BAD_IDS) ?? '';
    const method = rng.pick(['Dump', 'PreDump', 'Restore', 'GetCheckpoint', 'DeleteCheckpoint']) ?? 'GetCheckpoint';
    // Pid 1, which the agent refuses whatever the order of its checks: no process of anyone's is at risk.
    const req =
      method === 'Dump' || method === 'PreDump' ? { pid: 1, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' } : { checkpoint_id: id };
    await soak.call('hostile.bad-id', method, req, { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.INVALID_ARGUMENT] });
  },
  'bad-pid': async (soak, rng) => {
    const pid = rng.pick([0, -5, 4194305, 2147483647]) ?? 0;
    const method = rng.pick(['Dump', 'Continue']) ?? 'Dump';
    const req = method === 'Dump' ? { pid, checkpoint_id: 'soak-never', final_state: 'FINAL_STATE_RUNNING' } : { pid };
    await soak.call('hostile.bad-pid', method, req, { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.INVALID_ARGUMENT] });
  },
  'dead-pid': async (soak, rng, worker) => {
    const pid = await deadPid(soak, rng);
    if (pid === undefined) return;
    const method = rng.pick(['Dump', 'Continue']) ?? 'Dump';
    const id = newId(rng, worker);
    if (method === 'Dump') soak.ledger.record(id, 'unknown', 'dump', { shape: 'sleep', pids: [pid] }).busy = true;
    const r = await soak.call(
      'hostile.dead-pid',
      method,
      method === 'Dump' ? { pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' } : { pid },
      {
        deadlineMs: CONTROL_DEADLINE_MS,
        expect: [S.NOT_FOUND],
      },
    );
    const e = soak.ledger.get(id);
    if (e) {
      e.fate = fateOf(r, id);
      e.busy = false;
    }
  },
  'pid-1': async (soak, rng) => {
    const method = rng.pick(['Dump', 'PreDump', 'Continue']) ?? 'Dump';
    const req =
      method === 'Continue' ? { pid: 1 } : { pid: 1, checkpoint_id: `soak-pid1-${rng.tag()}`, final_state: 'FINAL_STATE_RUNNING' };
    await soak.call('hostile.pid-1', method, req, { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.PERMISSION_DENIED] });
  },
  'agent-pid': async (soak, rng) => {
    await soak.call(
      'hostile.agent-pid',
      'Dump',
      { pid: soak.agent.pid, checkpoint_id: `soak-self-${rng.tag()}`, final_state: 'FINAL_STATE_RUNNING' },
      { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.PERMISSION_DENIED] },
    );
  },
  oversized: async (soak, rng) => {
    const method = rng.pick(['Dump', 'Restore', 'GetCheckpoint']) ?? 'Dump';
    const big = 'x'.repeat((1 << 20) + rng.int(1, 1 << 20));
    const req = method === 'Dump' ? { pid: 1, checkpoint_id: big } : { checkpoint_id: big };
    await soak.call('hostile.oversized', method, req, { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.RESOURCE_EXHAUSTED] });
  },
  'unknown-id': async (soak, rng) => {
    const method = rng.pick(['Restore', 'GetCheckpoint', 'DeleteCheckpoint']) ?? 'GetCheckpoint';
    await soak.call(
      'hostile.unknown-id',
      method,
      { checkpoint_id: `soak-none-${rng.tag()}` },
      { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.NOT_FOUND] },
    );
  },
  'restore-dead': async (soak, rng) => {
    const e = rng.pick(soak.ledger.idle((x) => x.fate === 'present'));
    if (!e) return;
    await soak.call(
      'hostile.restore-dead',
      'Restore',
      { checkpoint_id: e.id, final_state: 'FINAL_STATE_DEAD' },
      {
        deadlineMs: CONTROL_DEADLINE_MS,
        expect: [S.INVALID_ARGUMENT],
      },
    );
  },
  'continue-running': async (soak, rng) => {
    const t = leaseRunning(soak, rng);
    if (!t) return;
    try {
      await soak.call(
        'hostile.continue-running',
        'Continue',
        { pid: t.pid },
        { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.FAILED_PRECONDITION] },
      );
      await holdTree(soak, t, 'after Continue of a running tree');
    } finally {
      soak.pool.release(t);
    }
  },
  'duplicate-id': async (soak, rng) => {
    const e = rng.pick(soak.ledger.idle((x) => x.fate === 'present'));
    const t = e && leaseRunning(soak, rng);
    if (!e || !t) return;
    e.busy = true;
    try {
      await soak.call(
        'hostile.duplicate-id',
        'Dump',
        { pid: t.pid, checkpoint_id: e.id, final_state: 'FINAL_STATE_RUNNING' },
        {
          deadlineMs: CRIU_DEADLINE_MS,
          expect: [S.ALREADY_EXISTS],
        },
      );
      if (await holdTree(soak, t, `after a Dump with the taken id ${e.id}`)) soak.pool.release(t);
    } finally {
      e.busy = false;
    }
  },
  'cancelled-dump': async (soak, rng, worker) => {
    const t = leaseRunning(soak, rng);
    if (!t) return;
    await dumpTree(soak, t, newId(rng, worker), pickFinal(rng), 'hostile.cancelled-dump', {
      cancelAfterMs: rng.int(1, 600),
      expect: [S.CANCELLED, S.OK],
    });
    releaseIfKept(soak, t);
  },
  'expired-dump': async (soak, rng, worker) => {
    const t = leaseRunning(soak, rng);
    if (!t) return;
    await dumpTree(soak, t, newId(rng, worker), pickFinal(rng), 'hostile.expired-dump', {
      deadlineMs: rng.int(1, 400),
      expect: [S.DEADLINE_EXCEEDED, S.OK],
    });
    releaseIfKept(soak, t);
  },
  'cancelled-restore': async (soak, rng) => {
    const e = rng.pick(await restorable(soak));
    if (!e) return;
    await restoreEntry(soak, e, rng.chance(0.5) ? 'FINAL_STATE_RUNNING' : 'FINAL_STATE_STOPPED', 'hostile.cancelled-restore', {
      cancelAfterMs: rng.int(1, 500),
      expect: [S.CANCELLED, S.OK, S.ALREADY_EXISTS],
    });
  },
  'concurrent-tree': async (soak, rng, worker) => {
    // Several calls on one tree at once: the agent lets one through and
    // refuses the others (ABORTED naming the holder); none may harm the tree.
    const t = leaseRunning(soak, rng);
    if (!t) return;
    const ids = [newId(rng, worker), newId(rng, worker)];
    for (const id of ids) soak.ledger.record(id, 'unknown', 'dump', treeInfoOf(t)).busy = true;
    const dump = (id: string): Promise<CallResult> =>
      soak.call(
        'hostile.concurrent.Dump',
        'Dump',
        { pid: t.pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' },
        {
          deadlineMs: CRIU_DEADLINE_MS,
          expect: [S.OK, S.ABORTED, S.RESOURCE_EXHAUSTED],
        },
      );
    const [a, b] = await Promise.all([
      dump(ids[0] as string),
      dump(ids[1] as string),
      soak.call(
        'hostile.concurrent.PreDump',
        'PreDump',
        { pid: t.pid, checkpoint_id: newId(rng, worker) },
        {
          deadlineMs: CRIU_DEADLINE_MS,
          expect: [S.FAILED_PRECONDITION, S.ABORTED, S.OK],
        },
      ),
      soak.call(
        'hostile.concurrent.Continue',
        'Continue',
        { pid: t.pid },
        { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.FAILED_PRECONDITION, S.ABORTED] },
      ),
      soak.call(
        'hostile.concurrent.Get',
        'GetCheckpoint',
        { checkpoint_id: ids[0] },
        { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.OK, S.NOT_FOUND] },
      ),
    ]);
    // Both Dumps asked for RUNNING: settle each (the second sees the tree as the first left it).
    await settleDump(soak, t, ids[0] as string, 'FINAL_STATE_RUNNING', a, 'dump');
    if (soak.pool.all().includes(t)) await settleDump(soak, t, ids[1] as string, 'FINAL_STATE_RUNNING', b, 'dump');
    else {
      const e = soak.ledger.get(ids[1] as string);
      if (e) {
        e.fate = fateOf(b, ids[1] as string);
        e.busy = false;
      }
    }
    releaseIfKept(soak, t);
  },
  'concurrent-restore': async (soak, rng) => {
    const e = rng.pick(await restorable(soak));
    if (!e) return;
    e.busy = true;
    const call = (): Promise<CallResult> =>
      soak.call(
        'hostile.concurrent.Restore',
        'Restore',
        { checkpoint_id: e.id },
        { deadlineMs: CRIU_DEADLINE_MS, expect: [S.OK, S.ABORTED, S.ALREADY_EXISTS] },
      );
    const rs = await Promise.all([call(), call()]);
    const ok = rs.filter((r) => r.code === S.OK).length;
    if (ok > 1) soak.violation('restorable', `two concurrent Restores of ${e.id} both answered OK`);
    if (ok >= 1) await adoptRestored(soak, e, 'FINAL_STATE_RUNNING', 'a concurrent Restore');
    else await noHalfRestored(soak, e, rs[0]);
    e.busy = false;
  },
};

function releaseIfKept(soak: Soak, t: SoakTarget): void {
  if (soak.pool.all().includes(t)) soak.pool.release(t);
}

/** The op table. */
export const OPS: readonly OpSpec[] = [
  {
    name: 'Dump',
    weight: (s) => (s.pool.size() > 0 ? 10 : 0),
    rpc: 'Dump',
    async run(soak, rng, worker) {
      const t = leaseRunning(soak, rng);
      if (!t) return;
      const final = pickFinal(rng);
      await dumpTree(soak, t, newId(rng, worker), final, `Dump.${final.replace('FINAL_STATE_', '')}`);
      releaseIfKept(soak, t);
    },
  },
  {
    name: 'PreDump',
    weight: 2,
    rpc: 'PreDump',
    async run(soak, rng, worker) {
      const t = leaseRunning(soak, rng);
      if (!t) return;
      const id = newId(rng, worker);
      soak.ledger.record(id, 'unknown', 'pre-dump', treeInfoOf(t)).busy = true;
      const final =
        rng.pick<Final>(['FINAL_STATE_UNSPECIFIED', 'FINAL_STATE_RUNNING', 'FINAL_STATE_STOPPED', 'FINAL_STATE_DEAD']) ??
        'FINAL_STATE_UNSPECIFIED';
      // This host has no soft-dirty tracking: FAILED_PRECONDITION is the answer here, OK where the kernel allows.
      const r = await soak.call(
        'PreDump',
        'PreDump',
        { pid: t.pid, checkpoint_id: id, final_state: final },
        {
          deadlineMs: CRIU_DEADLINE_MS,
          expect: [S.OK, S.FAILED_PRECONDITION, S.RESOURCE_EXHAUSTED],
        },
      );
      await settleDump(soak, t, id, final, r, 'pre-dump');
      releaseIfKept(soak, t);
    },
  },
  {
    name: 'Restore',
    weight: 7,
    rpc: 'Restore',
    async run(soak, rng) {
      const e = rng.pick(await restorable(soak));
      if (!e) return;
      const final = rng.chance(0.6) ? 'FINAL_STATE_RUNNING' : 'FINAL_STATE_STOPPED';
      // ABORTED: another worker restores another checkpoint of the same tree (same pids) right now.
      await restoreEntry(soak, e, final, `Restore.${final.replace('FINAL_STATE_', '')}`, { expect: [S.OK, S.ALREADY_EXISTS, S.ABORTED] });
    },
  },
  {
    name: 'Continue',
    weight: (s) => (s.pool.all().some((t) => t.expected === 'stopped' && !t.leased) ? 6 : 0),
    rpc: 'Continue',
    async run(soak, rng) {
      const t = soak.pool.lease(rng, (x) => x.expected === 'stopped');
      if (!t) return;
      const r = await soak.call('Continue', 'Continue', { pid: t.pid }, { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.OK] });
      if (r.code === S.OK) {
        t.expected = 'running';
        t.stoppedBy = undefined;
      } else if ((await observedState(t.owned.map((p) => p.pid))) === 'running') {
        // Failed, yet every task runs: a wrong answer (reported), no harm to the tree.
        soak.surprise(
          'Continue failed, but the tree runs',
          `Continue of tree ${t.pid} answered ${grpc.status[r.code]}: ${r.details.slice(0, 200)}`,
        );
        t.expected = 'running';
        t.stoppedBy = undefined;
      }
      if (await holdTree(soak, t, `after Continue answered ${grpc.status[r.code]}`)) soak.pool.release(t);
    },
  },
  {
    name: 'List',
    weight: 4,
    rpc: 'ListCheckpoints',
    async run(soak) {
      const before = new Set(
        soak.ledger
          .all()
          .filter((e) => !e.busy)
          .map((e) => e.id),
      );
      const r = await soak.call('List', 'ListCheckpoints', {}, { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.OK] });
      if (r.code !== S.OK) return;
      const listed = new Set(((r.res as { checkpoints?: { checkpoint_id: string }[] }).checkpoints ?? []).map((c) => c.checkpoint_id));
      // Only entries idle across the whole call are judged (an op may have started on one meanwhile).
      soak.checkListing(listed, (e) => before.has(e.id) && !e.busy);
    },
  },
  {
    name: 'Get',
    weight: 4,
    rpc: 'GetCheckpoint',
    async run(soak, rng) {
      const e = rng.pick(soak.ledger.all().filter((x) => !x.busy));
      if (!e) return;
      e.busy = true;
      try {
        const expect = e.fate === 'present' ? [S.OK] : e.fate === 'unknown' ? [S.OK, S.NOT_FOUND] : [S.NOT_FOUND];
        const r = await soak.call('Get', 'GetCheckpoint', { checkpoint_id: e.id }, { deadlineMs: CONTROL_DEADLINE_MS, expect });
        if (r.code === S.NOT_FOUND && e.fate === 'present')
          soak.violation('nothing-acknowledged-lost', `GetCheckpoint ${e.id}: NOT_FOUND, but its Dump was acknowledged`);
        if (r.code === S.OK && (e.fate === 'deleted' || e.fate === 'absent')) {
          soak.violation(
            'nothing-half-written',
            `GetCheckpoint ${e.id}: OK, but it was ${e.fate === 'deleted' ? 'deleted' : 'never acknowledged (its Dump failed)'}`,
          );
        }
        if (r.code === S.OK && e.fate === 'unknown') e.fate = 'present';
        if (r.code === S.OK && (r.res as { pid?: number }).pid !== e.tree.pids[0]) {
          soak.violation(
            'files-match-manifest',
            `GetCheckpoint ${e.id}: pid ${(r.res as { pid?: number }).pid}, the dumped tree's root was ${e.tree.pids[0]}`,
          );
        }
      } finally {
        e.busy = false;
      }
    },
  },
  {
    name: 'Delete',
    weight: (s) => (s.ledger.present().length > CHECKPOINTS_MAX ? 12 : 3),
    rpc: 'DeleteCheckpoint',
    async run(soak, rng) {
      const e = rng.pick(soak.ledger.idle((x) => x.fate === 'present'));
      if (!e) return;
      e.busy = true;
      try {
        const r = await soak.call(
          'Delete',
          'DeleteCheckpoint',
          { checkpoint_id: e.id, cascade: rng.chance(0.5) },
          {
            deadlineMs: CONTROL_DEADLINE_MS,
            expect: [S.OK, S.FAILED_PRECONDITION],
          },
        );
        if (r.code === S.OK) {
          for (const id of (r.res as { deleted?: string[] }).deleted ?? []) {
            const d = soak.ledger.get(id);
            if (d) d.fate = 'deleted';
            else soak.violation('nothing-half-written', `DeleteCheckpoint ${e.id} deleted ${id}, which no Dump of the soak made`);
          }
          if (e.fate !== 'deleted')
            soak.violation('nothing-acknowledged-lost', `DeleteCheckpoint ${e.id} answered OK without naming it deleted`);
        } else if (r.code === S.NOT_FOUND) {
          soak.violation('nothing-acknowledged-lost', `DeleteCheckpoint ${e.id}: NOT_FOUND, but its Dump was acknowledged`);
        } else if (LOST_ANSWER.has(r.code)) {
          e.fate = 'unknown';
        }
      } finally {
        e.busy = false;
      }
    },
  },
  {
    name: 'Spawn',
    weight: (s) => (s.pool.size() < POOL_MIN ? 20 : s.pool.size() < POOL_MAX ? 2 : 0),
    async run(soak, rng) {
      const shape = rng.pick(SHAPES) ?? 'single';
      try {
        const t = await soak.pool.start(shape);
        soak.pool.release(t);
      } catch (err) {
        soak.surprise(`start ${shape}`, (err as Error).message.slice(0, 300));
      }
    },
  },
  {
    name: 'Retire',
    weight: (s) => (s.pool.size() > POOL_MAX ? 10 : s.pool.size() > POOL_MIN ? 2 : 0),
    async run(soak, rng) {
      const t = soak.pool.lease(rng);
      if (t) await soak.pool.retire(t);
    },
  },
  {
    name: 'Hostile',
    weight: 6,
    async run(soak, rng, worker) {
      const name = rng.pick(Object.keys(HOSTILE)) ?? 'bad-id';
      await HOSTILE[name]?.(soak, rng, worker);
    },
  },
  {
    name: 'ExportImport',
    weight: (s) => (s.ledger.present().length > 0 ? 3 : 0),
    rpc: 'ImportCheckpoint',
    run: exportImport,
  },
  {
    name: 'Migrate',
    // The second node runs only where the API has Migrate (main.ts starts it).
    weight: (s) => (s.peer && s.pool.size() > 0 ? 6 : 0),
    rpc: 'Migrate',
    run: migrateRoundTrip,
  },
];

/** Where a tree is on one node: every pid alive and running, every one stopped, some (or a mix), or none. */
export type Place = 'running' | 'stopped' | 'partial' | 'none';

/**
 * The place of a tree from the scheduler letter of each of its pids on one
 * node (undefined: no such live process there; zombies count as gone).
 */
export function placeOf(states: readonly (string | undefined)[]): Place {
  const live = states.filter((s): s is string => s !== undefined && s !== 'Z' && s !== 'X');
  if (live.length === 0) return 'none';
  if (live.length < states.length) return 'partial';
  const stopped = live.filter((s) => s === 'T' || s === 't').length;
  return stopped === 0 ? 'running' : stopped === live.length ? 'stopped' : 'partial';
}

/** The tree's pids on this node: processes of the soak's (not the second node's) holding them. */
async function placeHere(soak: Soak, pids: readonly number[]): Promise<Place> {
  const mine = new Map(soak.ownProcesses(await processTable()).map((p) => [p.pid, p]));
  return placeOf(pids.map((pid) => mine.get(pid)?.state));
}

/** The tree's pids in the second node's pid namespace (the same numbers: CRIU restores the original pids). */
async function placeThere(soak: Soak, pids: readonly number[]): Promise<Place> {
  const peer = soak.peer;
  if (!peer) return 'none';
  const inside = new Map((await nodeProcesses(peer.pid)).map((p) => [p.nsPid, p]));
  return placeOf(pids.map((pid) => inside.get(pid)?.state));
}

/** SIGKILLs what holds the tree's pids on one node (only processes of the soak's) and waits until they are gone. */
async function killPlaced(soak: Soak, pids: readonly number[], where: 'here' | 'there'): Promise<void> {
  const victims: OwnedPid[] = [];
  if (where === 'here') {
    const mine = new Set(soak.ownProcesses(await processTable()).map((p) => p.pid));
    for (const pid of pids) {
      const o = mine.has(pid) ? await own(pid) : null;
      if (o) victims.push(o);
    }
  } else if (soak.peer) {
    for (const p of await nodeProcesses(soak.peer.pid)) {
      const o = pids.includes(p.nsPid) ? await own(p.pid) : null;
      if (o) victims.push(o);
    }
  }
  for (const o of victims) await signalOwned(o, 'SIGKILL');
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (where === 'here' ? await placeHere(soak, pids) : await placeThere(soak, pids)) !== 'none') await sleep(100);
}

/**
 * After one leg of a Migrate round trip: where the tree runs now, held to
 * "the tree runs on exactly one node". Waits (a failed migration is undone
 * asynchronously; a lost answer may hide either outcome) until one node has
 * the whole tree running and the other none of it. A copy left stopped on
 * one node while the other runs it is the window migration.md names (the
 * destination keeps its copy stopped when the commit is lost): reported,
 * and killed so the run goes on. A tree running on both, or on neither,
 * breaks the invariant.
 */
async function settleLeg(
  soak: Soak,
  pids: readonly number[],
  r: CallResult,
  from: 'here' | 'there',
  what: string,
): Promise<'here' | 'there' | 'nowhere'> {
  const to = from === 'here' ? 'there' : 'here';
  const answer = `${what} answered ${grpc.status[r.code]}${r.code === S.OK ? '' : ` (${r.details.slice(0, 200)})`}`;
  const deadline = Date.now() + (LOST_ANSWER.has(r.code) ? 30_000 : 15_000);
  let here: Place;
  let there: Place;
  for (;;) {
    [here, there] = [await placeHere(soak, pids), await placeThere(soak, pids)];
    const at = { here, there };
    const settled = (at[from] === 'running' && at[to] === 'none') || (at[to] === 'running' && at[from] === 'none');
    if (settled || Date.now() > deadline) break;
    await sleep(200);
  }
  const at = { here, there };
  if (at[from] === 'running' && at[to] === 'none') {
    if (r.code === S.OK) soak.violation('workload-unharmed', `${answer}, but the tree still runs on the source only`);
    return from;
  }
  if (at[to] === 'running' && at[from] === 'none') {
    if (r.code !== S.OK && !LOST_ANSWER.has(r.code)) soak.surprise('migrate failed after the restore', `${answer}, and the tree runs on the destination`);
    return to;
  }
  // A stopped copy beside a running one: the commit window; the running one is the tree.
  for (const [run, stop] of [[from, to], [to, from]] as const) {
    if (at[run] === 'running' && at[stop] === 'stopped') {
      soak.surprise('migrate left a stopped copy', `${answer}: the tree runs on the ${run === 'here' ? 'soak agent' : 'second node'}, a stopped copy on the other; killed`);
      await killPlaced(soak, pids, stop);
      return run;
    }
  }
  // Stopped on one node only, nothing on the other: the destination kept its copy (commit lost) and the source's is gone.
  for (const side of [to, from] as const) {
    if (at[side] === 'stopped' && at[side === 'here' ? 'there' : 'here'] === 'none') {
      const r2 = await soak.call('Migrate.Continue', 'Continue', { pid: pids[0] }, {
        agent: side === 'here' ? soak.agent : soak.peer,
        deadlineMs: CONTROL_DEADLINE_MS,
        expect: [S.OK],
      });
      soak.surprise('migrate left the tree stopped', `${answer}: stopped on the ${side === 'here' ? 'soak agent' : 'second node'} only; Continue answered ${grpc.status[r2.code]}`);
      if ((side === 'here' ? await placeHere(soak, pids) : await placeThere(soak, pids)) === 'running') return side;
    }
  }
  soak.violation(
    'workload-unharmed',
    `${answer}: the tree of pids ${pids.join(',')} is ${here} on the soak agent and ${there} on the second node, not running on exactly one`,
  );
  await killPlaced(soak, pids, 'here');
  await killPlaced(soak, pids, 'there');
  return 'nowhere';
}

/** One leg of a round trip: Migrate called on `from`, the other agent as the destination. */
function migrateLeg(soak: Soak, label: string, from: 'here' | 'there', pid: number, id: string): Promise<CallResult> {
  const peer = soak.peer as SoakAgent;
  const [src, dst] = from === 'here' ? [soak.agent, peer] : [peer, soak.agent];
  return soak.serverStream(
    label,
    'Migrate',
    { pid, destination: `unix:${dst.socket}`, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' },
    { agent: src, deadlineMs: CRIU_DEADLINE_MS, expect: [S.OK, S.RESOURCE_EXHAUSTED] },
  );
}

/** The MigrateResult in the last event of an OK Migrate. */
function migrateResult(r: CallResult): { destination_pid?: number; pids?: number[] } | undefined {
  if (r.code !== S.OK) return undefined;
  const events = r.res as { result?: { destination_pid?: number; pids?: number[] } }[];
  return events.at(-1)?.result ?? undefined;
}

/** Waits until the soak's agent answers a listing (it restarts after the agent-kill fault), at most ms. */
async function agentListening(soak: Soak, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const r = await soak.call('Migrate.wait.List', 'ListCheckpoints', {}, { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.OK, S.UNAVAILABLE] });
    if (r.code === S.OK) return;
    await sleep(500);
  }
}

/** Deletes up to n of the oldest idle acknowledged checkpoints on the soak's agent (the ledger follows). */
async function makeRoom(soak: Soak, n: number): Promise<void> {
  const tried = new Set<string>();
  for (let i = 0; i < n; i++) {
    // Picked at each turn, not listed once up front: while this loop awaits,
    // another worker's call may take or delete the next one (two workers
    // making room at once deleted the same checkpoint, and the second
    // NOT_FOUND was counted as a lost checkpoint).
    const e = soak.ledger.idle((x) => x.fate === 'present' && !tried.has(x.id))[0];
    if (!e) return;
    tried.add(e.id);
    e.busy = true;
    try {
      const r = await soak.call('Migrate.make-room.Delete', 'DeleteCheckpoint', { checkpoint_id: e.id }, { deadlineMs: CONTROL_DEADLINE_MS, expect: [S.OK, S.FAILED_PRECONDITION] });
      if (r.code === S.OK) {
        for (const id of (r.res as { deleted?: string[] }).deleted ?? []) {
          const d = soak.ledger.get(id);
          if (d) d.fate = 'deleted';
        }
      } else if (r.code === S.NOT_FOUND) {
        soak.violation('nothing-acknowledged-lost', `DeleteCheckpoint ${e.id}: NOT_FOUND, but it was acknowledged`);
      } else if (LOST_ANSWER.has(r.code)) e.fate = 'unknown';
    } finally {
      e.busy = false;
    }
  }
}

/** The checkpoints Migrate left on the second node, deleted there (each must be there when its Migrate answered OK). */
export async function deletePeerCheckpoints(soak: Soak): Promise<void> {
  for (const [id, acknowledged] of [...soak.peerCheckpoints]) {
    // Taken out first: another worker's round trip deletes what it finds too.
    if (!soak.peerCheckpoints.delete(id)) continue;
    const r = await soak.call(
      'Migrate.peer.Delete',
      'DeleteCheckpoint',
      { checkpoint_id: id },
      { agent: soak.peer, deadlineMs: CONTROL_DEADLINE_MS, expect: acknowledged ? [S.OK] : [S.OK, S.NOT_FOUND] },
    );
    if (r.code === S.NOT_FOUND && acknowledged)
      soak.violation('nothing-acknowledged-lost', `checkpoint ${id} on the second node: its Migrate answered OK, DeleteCheckpoint there NOT_FOUND`);
    if (r.code !== S.OK && r.code !== S.NOT_FOUND) soak.peerCheckpoints.set(id, acknowledged);
  }
}

/**
 * A Migrate round trip of a leased running tree: to the second node and
 * back, so that it returns to the pool with its pids and memory (checked as
 * any restored tree), and the checkpoint the way back created here is the
 * ledger's like a Dump's. The first leg's checkpoint (on the second node) is
 * deleted there. After each leg the tree must run on exactly one node.
 */
async function migrateRoundTrip(soak: Soak, rng: Rng, worker: number): Promise<void> {
  if (!soak.peer?.running()) return;
  const t = leaseRunning(soak, rng);
  if (!t) return;
  const info = treeInfoOf(t);
  const pids = info.pids;
  // Ids the soak's agent may list meanwhile: the first leg's (the source's
  // page-less copy, never to be left listed) and the way back's.
  const there = newId(rng, worker);
  const thereEntry = soak.ledger.record(there, 'unknown', 'dump', info);
  thereEntry.busy = true;
  for (const pid of pids) soak.reservedPids.add(pid);
  try {
    const r1 = await migrateLeg(soak, 'Migrate.there', 'here', t.pid, there);
    soak.peerCheckpoints.set(there, r1.code === S.OK);
    const res1 = migrateResult(r1);
    if (res1 && (res1.destination_pid !== t.pid || [...(res1.pids ?? [])].sort().join() !== [...pids].sort().join()))
      soak.surprise('migrate: other pids', `Migrate ${there} answered pid ${res1.destination_pid} (${(res1.pids ?? []).join(',')}), the tree had ${pids.join(',')}`);
    const p1 = await settleLeg(soak, pids, r1, 'here', `Migrate ${there} of tree ${t.pid} (${t.info.shape}) to the second node`);
    // Never listed here: the source's copy of a migration has no pages.
    thereEntry.fate = 'absent';
    thereEntry.busy = false;
    if (p1 === 'here') {
      // Still the tree the soak started (same start times), as it was.
      if (await holdTree(soak, t, `after Migrate ${there} answered ${grpc.status[r1.code]}`)) soak.pool.release(t);
      return;
    }
    const tmpDir = t.tmpDir;
    t.tmpDir = undefined;
    await soak.pool.forget(t, true);
    if (p1 === 'nowhere') {
      if (tmpDir) await fsp.rm(tmpDir, { recursive: true, force: true });
      return;
    }

    let back = '';
    let r2: CallResult | undefined;
    let p2: 'here' | 'there' | 'nowhere' = 'there';
    for (let attempt = 0; attempt < 2 && p2 === 'there'; attempt++) {
      back = newId(rng, worker);
      const e = soak.ledger.record(back, 'unknown', 'dump', info);
      e.busy = true;
      r2 = await migrateLeg(soak, attempt === 0 ? 'Migrate.back' : 'Migrate.back-retry', 'there', t.pid, back);
      p2 = await settleLeg(soak, pids, r2, 'there', `Migrate ${back} of tree ${t.pid} (${t.info.shape}) back from the second node`);
      e.fate = p2 === 'here' && (r2.code === S.OK || (await checkpointExists(soak, back, 5000))) ? 'present' : LOST_ANSWER.has(r2.code) ? 'unknown' : 'absent';
      e.busy = false;
      if (r2.code === S.OK && p2 !== 'here') soak.violation('nothing-acknowledged-lost', `Migrate ${back} answered OK, but the tree is not here`);
      // The soak's tmpfs is often near full: make room as an operator would, rather than lose the tree.
      if (p2 === 'there' && r2.code === S.RESOURCE_EXHAUSTED) await makeRoom(soak, 3);
      // The soak's agent down (the agent-kill fault): retry once it listens again.
      if (p2 === 'there' && /cannot reach the destination/.test(r2.details)) await agentListening(soak, 20_000);
    }
    if (p2 === 'here') {
      let back2: SoakTarget;
      try {
        back2 = await soak.pool.adopt({ ...info }, 'restored', 'running');
      } catch (err) {
        soak.violation('workload-unharmed', `after Migrate ${back}: ${(err as Error).message}`);
        return;
      }
      back2.tmpDir = tmpDir;
      if (await holdTree(soak, back2, `after the Migrate round trip ${there}, ${back}`)) soak.pool.release(back2);
      const e = soak.ledger.get(back);
      if (e) e.restoresVerified++;
      return;
    }
    if (p2 === 'there') {
      // Both tries refused with the tree running on there: no invariant broken, but it cannot come back.
      soak.surprise('migrate back failed twice', `Migrate ${back}: ${grpc.status[r2?.code ?? S.UNKNOWN]} (${r2?.details.slice(0, 200)}); the tree left on the second node is killed`);
      await killPlaced(soak, pids, 'there');
    }
    if (tmpDir) await fsp.rm(tmpDir, { recursive: true, force: true });
  } finally {
    for (const pid of pids) soak.reservedPids.delete(pid);
    if (thereEntry.busy) {
      thereEntry.fate = 'unknown';
      thereEntry.busy = false;
    }
    await deletePeerCheckpoints(soak);
  }
}

/** A chunk of ExportCheckpoint's stream, as grpc-js gives it (and takes it back). */
interface Chunk {
  manifest?: { checkpoint?: { checkpoint_id?: string } };
  data?: { path: string; data: Buffer };
}

/**
 * ExportCheckpoint of a listed checkpoint, then ImportCheckpoint of its
 * stream into the same agent under a new id: as is (a second listed
 * checkpoint, which must restore like the first), with one byte flipped
 * (DATA_LOSS, nothing listed), or under its own id (ALREADY_EXISTS).
 */
async function exportImport(soak: Soak, rng: Rng, worker: number): Promise<void> {
  const e = rng.pick(soak.ledger.idle((x) => x.fate === 'present' && x.kind === 'dump'));
  if (!e) return;
  e.busy = true;
  try {
    const out = await soak.serverStream('Export', 'ExportCheckpoint', { checkpoint_id: e.id }, { deadlineMs: CRIU_DEADLINE_MS, expect: [S.OK] });
    if (out.code === S.NOT_FOUND) soak.violation('nothing-acknowledged-lost', `ExportCheckpoint ${e.id}: NOT_FOUND, but its Dump was acknowledged`);
    if (out.code !== S.OK) return;
    const chunks = out.res as Chunk[];
    const variant = rng.weighted(['copy', 'corrupt', 'taken'], (v) => (v === 'copy' ? 4 : 1)) ?? 'copy';
    if (variant === 'taken') {
      await soak.clientStream('Import.taken', 'ImportCheckpoint', chunks, { deadlineMs: CRIU_DEADLINE_MS, expect: [S.ALREADY_EXISTS] });
      return;
    }
    const id = newId(rng, worker);
    const renamed = chunks.map((c) =>
      c.manifest?.checkpoint ? { ...c, manifest: { ...c.manifest, checkpoint: { ...c.manifest.checkpoint, checkpoint_id: id } } } : c,
    );
    let victim: { path: string; data: Buffer } | undefined;
    if (variant === 'corrupt') {
      const i = renamed.findIndex((c) => (c.data?.data.length ?? 0) > 0);
      victim = renamed[i]?.data;
      if (!victim) return;
      const bytes = Buffer.from(victim.data);
      const at = rng.int(0, bytes.length - 1);
      bytes[at] = (bytes[at] ?? 0) ^ 0xff;
      renamed[i] = { data: { ...victim, data: bytes } };
    }
    const entry = soak.ledger.record(id, 'unknown', e.kind, e.tree);
    entry.busy = true;
    if (victim) {
      const r = await soak.clientStream('Import.corrupt', 'ImportCheckpoint', renamed, { deadlineMs: CRIU_DEADLINE_MS, expect: [S.DATA_LOSS] });
      if (r.code === S.OK) soak.violation('files-match-manifest', `ImportCheckpoint of ${e.id} with a byte flipped in ${victim.path} answered OK (as ${id})`);
      entry.fate = fateOf(r, id);
    } else {
      const r = await soak.clientStream('Import.copy', 'ImportCheckpoint', renamed, { deadlineMs: CRIU_DEADLINE_MS, expect: [S.OK, S.RESOURCE_EXHAUSTED] });
      entry.fate = fateOf(r, id);
    }
    entry.busy = false;
  } finally {
    e.busy = false;
  }
}

/** The ops this agent's API supports. */
export function activeOps(soak: Soak): OpSpec[] {
  return OPS.filter((op) => op.rpc === undefined || soak.hasRpc(op.rpc));
}

/** Draws and runs one op. Returns its name. */
export async function runOne(soak: Soak, rng: Rng, worker: number, ops: readonly OpSpec[]): Promise<string | undefined> {
  const op = rng.weighted(ops, (o) => (typeof o.weight === 'number' ? o.weight : o.weight(soak)));
  if (!op) return undefined;
  await op.run(soak, rng, worker);
  return op.name;
}
