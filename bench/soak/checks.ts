/**
 * The checks a soak runs at its quiet points (every op and fault held
 * still, no call in flight) and once more at the end.
 */
import * as grpc from '@grpc/grpc-js';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { verifyDirectory } from '../../src/store/digest';
import { RECORD_FILE, unlistedFiles, type CheckpointRecord } from '../../src/store';
import { sleep, type Soak } from './context';
import { criuWorkers } from './faults';
import { CONTROL_DEADLINE_MS, deletePeerCheckpoints, restorable, restoreEntry } from './ops';
import { nodeProcesses, own, processTable, signalOwned, stillSame, type OwnedPid, type ProcRow } from './procs';
import type { Rng } from './rng';


/**
 * A Restore refused because something outside the soak holds what the tree
 * needs: one of its pids (ALREADY_EXISTS), or its TCP port (CRIU's bind
 * fails with EADDRINUSE): other work on the machine, not the agent's fault.
 */
export function othersHold(r: { code: grpc.status; details: string }): boolean {
  return r.code === grpc.status.ALREADY_EXISTS || (r.code === grpc.status.INTERNAL && /Address already in use|EADDRINUSE/.test(r.details));
}

export interface CheckFigures {
  quietChecks: number;
  filesVerified: number;
  restoresVerifiedAtQuietPoints: number;
  /** At the end: checkpoints restored and checked, and those whose pids others held. */
  finalRestores: number;
  finalRestoreUnverifiable: number;
  listedAtEnd: number;
}

export class Checker {
  readonly figures: CheckFigures = {
    quietChecks: 0,
    filesVerified: 0,
    restoresVerifiedAtQuietPoints: 0,
    finalRestores: 0,
    finalRestoreUnverifiable: 0,
    listedAtEnd: 0,
  };
  /** Temporary checkpoint directories seen at the last quiet point, with the agent incarnation then. */
  private tmpSeen = new Map<string, number>();

  /** The second node's temporary directories seen at the last quiet point. */
  private peerTmpSeen = new Set<string>();
  /** The second node's own processes (PID 1 there, its agent), taken when it started. */
  private peerBase: OwnedPid[] = [];

  constructor(private readonly soak: Soak) {}

  /** Takes the second node's processes as they are now (just started: PID 1 there and the agent) as its base. */
  async notePeerBase(): Promise<void> {
    const peer = this.soak.peer;
    if (!peer) return;
    this.peerBase = [];
    for (const p of await nodeProcesses(peer.pid)) {
      const o = await own(p.pid);
      if (o) this.peerBase.push(o);
    }
  }

  /** The second node's processes now (host pids), for waiting until they are gone once it is stopped. */
  async peerProcesses(): Promise<OwnedPid[]> {
    const out: OwnedPid[] = [];
    for (const p of this.soak.peer ? await nodeProcesses(this.soak.peer.pid) : []) {
      const o = await own(p.pid);
      if (o) out.push(o);
    }
    return out;
  }

  /**
   * The second node at a quiet point (no Migrate in flight): the checkpoints
   * the round trips left there deleted, nothing else listed, nothing on its
   * disk but what it lists, no temporary directory that outlives a quiet
   * point, and no process in its pid namespace but its PID 1 and its agent
   * (no tree left there, stopped or running, no CRIU, no zombie). Two scans
   * 2 s apart, as for the soak's own strays.
   */
  async checkPeer(final: boolean): Promise<void> {
    const peer = this.soak.peer;
    if (!peer) return;
    if (!peer.running()) {
      // Nothing kills it before the end: its agent (PID 2 there) or PID 1 died on its own, and Migrate stopped with it.
      this.soak.surprise('second node gone', `the second node (unshare pid ${peer.pid}) exited; no more Migrate ops`);
      return;
    }
    await deletePeerCheckpoints(this.soak);
    const r = await this.soak.call('check.peer.List', 'ListCheckpoints', {}, { agent: peer, deadlineMs: CONTROL_DEADLINE_MS, expect: [grpc.status.OK] });
    const listed = new Set(((r.res as { checkpoints?: { checkpoint_id: string }[] } | undefined)?.checkpoints ?? []).map((c) => c.checkpoint_id));
    if (r.code === grpc.status.OK) {
      for (const id of listed) {
        if (!this.soak.peerCheckpoints.has(id))
          this.soak.violation('nothing-half-written', `checkpoint ${id} is listed on the second node after its Migrate round trip ended (the soak deleted it, or no Migrate of the soak's acknowledged it there)`);
      }
    }
    const dir = path.join(peer.stateDir, 'checkpoints');
    const tmpNow = new Set<string>();
    for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith('.tmp-')) {
        tmpNow.add(name);
        if (final || this.peerTmpSeen.has(name)) this.soak.violation('no-temp-left', `temporary directory ${name} left in the second node's ${dir}`);
      } else if (r.code === grpc.status.OK && !listed.has(name)) {
        this.soak.violation('nothing-half-written', `directory ${name} is on the second node's disk (${dir}) but not listed`);
      }
    }
    this.peerTmpSeen = tmpNow;

    const base = new Set<number>();
    for (const o of this.peerBase) if (await stillSame(o)) base.add(o.pid);
    const scan = async (): Promise<Map<number, { nsPid: number; comm: string; state: string }>> =>
      new Map((await nodeProcesses(peer.pid)).filter((p) => !base.has(p.pid)).map((p) => [p.pid, p]));
    for (const { pid, p, o } of await lingering(scan)) {
      const what = p.comm === 'criu' ? 'a CRIU process' : p.state === 'Z' ? 'a zombie' : p.state === 'T' || p.state === 't' ? 'a stopped process' : 'a process';
      this.soak.violation(
        p.state === 'T' || p.state === 't' ? 'no-tree-left-stopped' : 'no-stray-process',
        `${what} left on the second node: pid ${p.nsPid} there (${pid} here, ${p.comm}, state ${p.state})`,
      );
      await signalOwned(o, 'SIGKILL');
    }
  }

  private get checkpointsDir(): string {
    return path.join(this.soak.stateDir, 'checkpoints');
  }

  /** Lists the checkpoints, retrying while the agent restarts; null if it never answers. */
  async list(): Promise<Set<string> | null> {
    for (let i = 0; i < 20; i++) {
      const r = await this.soak.call(
        'check.List',
        'ListCheckpoints',
        {},
        { deadlineMs: CONTROL_DEADLINE_MS, expect: [grpc.status.OK, grpc.status.UNAVAILABLE] },
      );
      if (r.code === grpc.status.OK) {
        return new Set(((r.res as { checkpoints?: { checkpoint_id: string }[] }).checkpoints ?? []).map((c) => c.checkpoint_id));
      }
      await sleep(500);
    }
    return null;
  }

  /** The full round of checks at a quiet point. `final`: verify every checkpoint's files, and judge temp dirs at once. */
  async quiet(final: boolean, rng: Rng): Promise<void> {
    this.figures.quietChecks++;
    const listed = await this.list();
    if (listed === null) {
      this.soak.violation('no-hang', 'ListCheckpoints did not answer OK for 10 s at a quiet point');
      return;
    }
    this.soak.checkListing(listed);
    await this.checkDisk(listed, final);
    const toVerify = final ? [...listed] : [...listed].filter(() => rng.chance(0.3)).slice(0, 3);
    for (const id of toVerify) await this.verifyFiles(id);
    await this.checkTrees();
    await this.checkStrays(false);
    await this.checkPeer(final);
    if (!final) {
      // One checkpoint never restored yet, restored now and checked: no fault runs at a quiet point.
      const e = rng.pick(await restorable(this.soak, (x) => x.restoresVerified === 0));
      if (e) {
        const r = await restoreEntry(this.soak, e, 'FINAL_STATE_RUNNING', 'check.Restore', { expect: [grpc.status.OK] });
        if (r.code === grpc.status.OK) this.figures.restoresVerifiedAtQuietPoints++;
        else if (!othersHold(r)) {
          this.soak.violation(
            'restorable',
            `listed checkpoint ${e.id} did not restore at a quiet point: ${grpc.status[r.code]}: ${r.details.slice(0, 300)}`,
          );
        }
      }
    }
  }

  /** Every directory named by an id is listed; temporary ones do not outlive the calls that made them. */
  private async checkDisk(listed: Set<string>, final: boolean): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(this.checkpointsDir);
    } catch (err) {
      this.soak.violation('nothing-acknowledged-lost', `cannot read ${this.checkpointsDir}: ${(err as Error).message}`);
      return;
    }
    const tmpNow = new Map<string, number>();
    for (const name of names) {
      if (name.startsWith('.tmp-')) {
        tmpNow.set(name, this.soak.agent.incarnation);
        // A cancelled call's handler may still be stopping CRIU at one quiet
        // point; at the next one (same agent process), its directory must be gone.
        if (final || this.tmpSeen.get(name) === this.soak.agent.incarnation) {
          this.soak.violation('no-temp-left', `temporary checkpoint directory ${name} left in ${this.checkpointsDir}`);
        }
        continue;
      }
      if (!listed.has(name))
        this.soak.violation('nothing-half-written', `directory checkpoints/${name} is on disk but not listed (no complete manifest)`);
    }
    this.tmpSeen = tmpNow;
  }

  /** A listed checkpoint's files match its manifest (what Restore checks before CRIU reads them). */
  async verifyFiles(id: string): Promise<void> {
    const dir = path.join(this.checkpointsDir, id);
    try {
      const manifest = JSON.parse(await fsp.readFile(path.join(dir, RECORD_FILE), 'utf8')) as CheckpointRecord;
      const exclude = await unlistedFiles(dir, manifest);
      await verifyDirectory(dir, manifest.files, { exclude });
      this.figures.filesVerified++;
      const e = this.soak.ledger.get(id);
      if (e) e.filesVerified++;
    } catch (err) {
      this.soak.violation('files-match-manifest', `checkpoint ${id}: ${(err as Error).message.slice(0, 400)}`);
    }
  }

  /** Every tree is alive and in the state the soak expects (none frozen, traced, or stopped unless asked). */
  async checkTrees(): Promise<void> {
    for (const t of this.soak.pool.all()) {
      if (t.leased) continue;
      t.leased = true;
      try {
        const problem = await this.soak.pool.inspect(t);
        const serving = problem === null ? await this.soak.pool.serves(t) : null;
        if (problem) {
          this.soak.violation(
            problem.kind === 'harmed' ? 'workload-unharmed' : 'no-tree-left-stopped',
            `at a quiet point: ${problem.detail}`,
          );
          await this.soak.pool.retire(t);
        } else if (serving) {
          this.soak.violation('workload-unharmed', `at a quiet point: tree ${t.pid} (${t.info.shape}, ${t.origin}): ${serving}`);
          await this.soak.pool.retire(t);
        }
      } finally {
        t.leased = false;
      }
    }
  }

  /**
   * No process under the soak's root that the soak cannot name: a CRIU
   * process, a zombie of the agent, a task of a tree the soak does not
   * know (half-restored, or orphaned). Two scans 2 s apart, so that
   * processes on their way out are not counted.
   */
  async checkStrays(agentStopped: boolean): Promise<void> {
    const scan = async (): Promise<Map<number, ProcRow>> => {
      const known = new Set<number>([process.pid]);
      if (!agentStopped) known.add(this.soak.agent.pid);
      for (const t of this.soak.pool.all()) for (const p of t.owned) known.add(p.pid);
      const table = await processTable();
      const out = new Map<number, ProcRow>();
      for (const p of this.soak.ownProcesses(table)) {
        if (!known.has(p.pid)) out.set(p.pid, p);
      }
      return out;
    };
    for (const { pid, p, o } of await lingering(scan)) {
      const what = p.comm === 'criu' ? 'a CRIU process' : p.state === 'Z' ? 'a zombie' : 'a process the soak does not know';
      // Which CRIU it was (swrk, a page server and its port, ...): the command line names it.
      const cmd = (await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ').trim().slice(0, 120);
      this.soak.violation(
        'no-stray-process',
        `${what} left behind: pid ${pid} (${p.comm}, state ${p.state}, parent ${p.ppid}${p.ppid === this.soak.agent.pid ? ', the agent' : ''}${cmd ? `: ${cmd}` : ''})`,
      );
      // Under the soak's root, so its own: killed, so that it is reported once and the run goes on clean.
      await signalOwned(o, 'SIGKILL');
    }
  }

  /** CRIU workers of the agent right now (for the end: none once every call is answered). */
  async criuWorkersNow(): Promise<number[]> {
    return this.soak.agent.running() ? criuWorkers(this.soak.agent.pid) : [];
  }
}

/**
 * What `scan` finds twice, 2 s apart, still the same process both times:
 * processes on their way out are not counted.
 */
async function lingering<P>(scan: () => Promise<Map<number, P>>): Promise<{ pid: number; p: P; o: OwnedPid }[]> {
  const first = await scan();
  if (first.size === 0) return [];
  const owned = new Map<number, OwnedPid>();
  for (const pid of first.keys()) {
    const o = await own(pid);
    if (o) owned.set(pid, o);
  }
  await sleep(2000);
  const out: { pid: number; p: P; o: OwnedPid }[] = [];
  for (const [pid, p] of await scan()) {
    const o = owned.get(pid);
    if (o && (await stillSame(o))) out.push({ pid, p, o });
  }
  return out;
}
