/**
 * What the soak's operations, faults and checks share: the agent, the trees,
 * the ledger, and the record of every call, surprise and broken invariant.
 */
import * as grpc from '@grpc/grpc-js';
import type { SoakAgent, CallResult } from './agent';
import type { Fate, Ledger, LedgerEntry } from './ledger';
import { descendants, type ProcRow } from './procs';
import type { TargetPool } from './targets';

/** The statuses README.md's error table lists; anything else breaks the "listed status" invariant. */
export const LISTED_STATUSES: ReadonlySet<grpc.status> = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.PERMISSION_DENIED,
  grpc.status.ABORTED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.DATA_LOSS,
  grpc.status.CANCELLED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNAVAILABLE,
  grpc.status.INTERNAL,
]);

/** Statuses after which the soak cannot know whether the agent did the work. */
export const LOST_ANSWER: ReadonlySet<grpc.status> = new Set([
  grpc.status.CANCELLED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNAVAILABLE,
]);

/**
 * What a call that makes checkpoint `id` (Dump, PreDump, Import) says of it:
 * made (OK, or ABORTED saying the checkpoint is complete and kept: CRIU
 * finished while something outside the agent changed the tree), unknown
 * (the answer was lost), or not made.
 */
export function fateOf(r: { code: grpc.status; details: string }, id: string): Fate {
  if (r.code === grpc.status.OK) return 'present';
  if (r.code === grpc.status.ABORTED && r.details.includes(`checkpoint ${id} is complete and kept`)) return 'present';
  return LOST_ANSWER.has(r.code) ? 'unknown' : 'absent';
}

/** Deadlines from this long up are the soak's generous ones, which a working agent always meets. */
export const GENEROUS_DEADLINE_MS = 10_000;

/** How long past its deadline a call may stay unanswered before it counts as hung. */
export const HANG_MARGIN_MS = 15_000;

/** The invariants a soak checks; each broken one is named in the summary and the exit message. */
export type Invariant =
  | 'listed-status'
  | 'no-hang'
  | 'agent-stays-up'
  | 'restorable'
  | 'files-match-manifest'
  | 'nothing-half-written'
  | 'nothing-acknowledged-lost'
  | 'workload-unharmed'
  | 'no-tree-left-stopped'
  | 'no-stray-process'
  | 'no-temp-left'
  | 'resources-flat';

export const INVARIANTS: readonly Invariant[] = [
  'listed-status',
  'no-hang',
  'agent-stays-up',
  'restorable',
  'files-match-manifest',
  'nothing-half-written',
  'nothing-acknowledged-lost',
  'workload-unharmed',
  'no-tree-left-stopped',
  'no-stray-process',
  'no-temp-left',
  'resources-flat',
];

const MAX_EXAMPLES = 8;

interface Tally {
  count: number;
  examples: string[];
}

function bump(m: Map<string, Tally>, key: string, example?: string): void {
  let t = m.get(key);
  if (!t) m.set(key, (t = { count: 0, examples: [] }));
  t.count++;
  // Examples of different kinds first: the same message with other numbers is no news.
  const shape = (x: string): string => x.replace(/^[\d.]+s /, '').replace(/[0-9a-z]*\d[0-9a-z]*/g, '#');
  if (example !== undefined && t.examples.length < MAX_EXAMPLES && !t.examples.some((x) => shape(x) === shape(example)))
    t.examples.push(example);
}

function tallyObject(m: Map<string, Tally>): Record<string, Tally> {
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** Call options of the soak: a deadline always, and what the caller expects. */
export interface SoakCallOptions {
  deadlineMs: number;
  cancelAfterMs?: number;
  /** Statuses this call may get without surprise; others (if listed) are reported as surprises. */
  expect: readonly grpc.status[];
  /** The agent to call: the soak's own (default) or the second node's (`Soak.peer`). */
  agent?: SoakAgent;
}

export class Soak {
  readonly t0 = Date.now();
  /** Calls by RPC and status name. */
  readonly byMethod = new Map<string, Map<string, number>>();
  /** Calls by the soak's op label and status name. */
  readonly byOp = new Map<string, Map<string, number>>();
  readonly violations = new Map<string, Tally>();
  readonly surprises = new Map<string, Tally>();
  readonly faults = new Map<string, Tally>();
  callsTotal = 0;
  inFlight = 0;
  /** Faults in progress: calls during one may fail in ways that are no surprise. */
  faultsActive = 0;
  /** Set while the checker wants every op and fault to hold still. */
  paused = false;
  stopping = false;
  /**
   * The second node, for Migrate: an agent in its own pid, network and mount
   * namespaces. Its processes are the soak's too, but not strays of the
   * soak's agent: `ownProcesses` leaves them out, the checker looks at them
   * on their own.
   */
  peer?: SoakAgent;
  /**
   * Pids of trees away on the second node (a Migrate round trip): free here
   * meanwhile, but coming back, so no Restore or dead-pid call may take them.
   */
  readonly reservedPids = new Set<number>();
  /**
   * Checkpoints on the second node that a Migrate left and the soak has yet
   * to delete there; true: acknowledged (the Migrate answered OK), so it must
   * be there to delete.
   */
  readonly peerCheckpoints = new Map<string, boolean>();
  private readonly rpcs: Set<string>;

  constructor(
    readonly agent: SoakAgent,
    readonly pool: TargetPool,
    readonly ledger: Ledger,
    readonly seed: number,
    readonly stateDir: string,
    /** The process whose descendants are the soak's own (its subreaper, else the soak itself). */
    readonly rootPid: number,
    readonly log: (line: string) => void,
  ) {
    this.rpcs = agent.rpcNames();
  }

  /** Seconds since the soak started. */
  elapsed(): number {
    return (Date.now() - this.t0) / 1000;
  }

  hasRpc(name: string): boolean {
    return this.rpcs.has(name);
  }

  violation(inv: Invariant, detail: string): void {
    bump(this.violations, inv, `${this.elapsed().toFixed(1)}s ${detail}`);
    this.log(`INVARIANT BROKEN ${inv}: ${detail} (seed ${this.seed})`);
  }

  surprise(kind: string, detail: string): void {
    bump(this.surprises, `${kind}${this.faultsActive > 0 ? ' (during a fault)' : ''}`, `${this.elapsed().toFixed(1)}s ${detail}`);
  }

  fault(kind: string, detail: string): void {
    bump(this.faults, kind, `${this.elapsed().toFixed(1)}s ${detail}`);
    this.log(`fault ${kind}: ${detail}`);
  }

  /**
   * Calls the agent, records the answer by RPC and op, and holds it to the
   * invariants every call has: a status README.md lists, within the deadline
   * (plus a margin).
   */
  call(label: string, method: string, req: unknown, opts: SoakCallOptions): Promise<CallResult> {
    const agent = opts.agent ?? this.agent;
    return this.account(label, method, opts, () => agent.call(method, req, { deadlineMs: opts.deadlineMs, cancelAfterMs: opts.cancelAfterMs }));
  }

  /** A server-streaming call (ExportCheckpoint, Migrate), held to the same invariants; `res` is every message. */
  serverStream(label: string, method: string, req: unknown, opts: SoakCallOptions): Promise<CallResult> {
    const agent = opts.agent ?? this.agent;
    return this.account(label, method, opts, () => agent.serverStream(method, req, { deadlineMs: opts.deadlineMs }));
  }

  /** Processes under the soak's root, less the second node's (its unshare and everything below). */
  ownProcesses(table: Map<number, ProcRow>): ProcRow[] {
    const peer = this.peer?.pid;
    const all = descendants(table, this.rootPid);
    if (!peer) return all;
    const theirs = new Set([peer, ...descendants(table, peer).map((p) => p.pid)]);
    return all.filter((p) => !theirs.has(p.pid));
  }

  /** A client-streaming call (ImportCheckpoint), held to the same invariants. */
  clientStream(label: string, method: string, messages: readonly unknown[], opts: SoakCallOptions): Promise<CallResult> {
    return this.account(label, method, opts, () => this.agent.clientStream(method, messages, { deadlineMs: opts.deadlineMs }));
  }

  private async account(label: string, method: string, opts: SoakCallOptions, invoke: () => Promise<CallResult>): Promise<CallResult> {
    this.callsTotal++;
    this.inFlight++;
    let answered = false;
    const watchdog = setTimeout(() => {
      if (!answered)
        this.violation('no-hang', `${label} (${method}) unanswered ${HANG_MARGIN_MS} ms past its ${opts.deadlineMs} ms deadline`);
    }, opts.deadlineMs + HANG_MARGIN_MS);
    let r: CallResult;
    try {
      r = await invoke();
    } finally {
      answered = true;
      clearTimeout(watchdog);
      this.inFlight--;
    }
    const name = grpc.status[r.code] ?? `code ${r.code}`;
    count(this.byMethod, method, name);
    count(this.byOp, label, name);
    // grpc-js ends a call at its deadline itself, so a hung agent shows as
    // DEADLINE_EXCEEDED: with the soak's own generous deadlines (not a
    // hostile call's short one), that is a hang.
    if (r.code === grpc.status.DEADLINE_EXCEEDED && opts.deadlineMs >= GENEROUS_DEADLINE_MS) {
      this.violation('no-hang', `${label} (${method}) got no answer within its ${opts.deadlineMs} ms deadline`);
    }
    if (!LISTED_STATUSES.has(r.code)) {
      this.violation('listed-status', `${label} (${method}) got ${name}, which README.md does not list: ${r.details}`);
    } else if (!opts.expect.includes(r.code)) {
      // CRIU's error lines come last in an INTERNAL message: keep its head and tail.
      this.surprise(`${label}: ${name}`, r.details.length > 700 ? `${r.details.slice(0, 250)} [...] ${r.details.slice(-450)}` : r.details);
    }
    return r;
  }

  /** Holds a listing to the ledger (entries `judge` accepts). */
  checkListing(listed: Set<string>, judge?: (e: LedgerEntry) => boolean): void {
    const { lost, extra } = this.ledger.compare(listed, judge);
    for (const p of lost) this.violation('nothing-acknowledged-lost', p);
    for (const p of extra) this.violation('nothing-half-written', p);
  }

  /** Waits while the checker holds everything still (ops and faults call this between steps). */
  async holdWhilePaused(): Promise<void> {
    while (this.paused && !this.stopping) await sleep(50);
  }

  summaryTallies(): {
    byMethod: Record<string, Record<string, number>>;
    byOp: Record<string, Record<string, number>>;
    violations: Record<string, Tally>;
    surprises: Record<string, Tally>;
    faults: Record<string, Tally>;
  } {
    const nested = (m: Map<string, Map<string, number>>): Record<string, Record<string, number>> =>
      Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, Object.fromEntries(v)]));
    return {
      byMethod: nested(this.byMethod),
      byOp: nested(this.byOp),
      violations: tallyObject(this.violations),
      surprises: tallyObject(this.surprises),
      faults: tallyObject(this.faults),
    };
  }
}

function count(m: Map<string, Map<string, number>>, k: string, status: string): void {
  let inner = m.get(k);
  if (!inner) m.set(k, (inner = new Map<string, number>()));
  inner.set(status, (inner.get(status) ?? 0) + 1);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
