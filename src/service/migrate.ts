import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CriuMigration } from '../criu/client';
import { AgentError, errorMessage, toAgentError } from '../errors';
import { resolveFinalState, type FinalState, type RequestedState } from '../finalState';
import type { DumpOptions__Output } from '../generated/criu_agent/v1/DumpOptions';
import type { MigrateMode } from '../generated/criu_agent/v1/MigrateMode';
import type { MigrationReply__Output } from '../generated/criu_agent/v1/MigrationReply';
import type { MigrationPageServerClosed__Output } from '../generated/criu_agent/v1/MigrationPageServerClosed';
import type { RestoreOptions__Output } from '../generated/criu_agent/v1/RestoreOptions';
import { continueTree, estimateMemoryBytes, readStartTime, signalTree, snapshotTree, treeStatus } from '../proctree';
import { validateCheckpointId } from '../store';
import { checkpointChain, chunkToWire, readCheckpoints } from '../transfer';
import type { ServiceContext } from './context';
import type { DumpService } from './dump';
import { guardTarget, guardTree, requireLiveProcess } from './guards';
import type { PeerConnector, PeerSession } from './peer';

export type MigrateModeName = 'STOP_AND_COPY' | 'PRE_COPY' | 'POST_COPY';

export interface MigrateParams {
  pid: number;
  destination: string;
  /** Empty: generated. */
  checkpointId: string;
  mode: 'UNSPECIFIED' | MigrateModeName;
  maxPreDumpRounds: number;
  requested: RequestedState;
  options: Partial<DumpOptions__Output>;
  restoreOptions: Partial<RestoreOptions__Output>;
}

export type MigrateStepName = 'ACCEPTED' | 'PRE_DUMP_ROUND' | 'DUMPED' | 'TRANSFERRED' | 'RESTORED' | 'DONE';

export interface MigrateResult {
  checkpointId: string;
  mode: MigrateModeName;
  destinationPid: number;
  pids: number[];
  finalState: FinalState;
  rounds: number;
  downtimeUs: number;
  frozenTimeUs: number;
  transferBytes: number;
  transferTimeUs: number;
  restoreTimeUs: number;
}

export interface MigrateEvent {
  step: MigrateStepName;
  message: string;
  bytes?: number;
  durationUs?: number;
  result?: MigrateResult;
}

const WIRE_MODE: Record<MigrateModeName, MigrateMode> = {
  STOP_AND_COPY: 'MIGRATE_MODE_STOP_AND_COPY',
  PRE_COPY: 'MIGRATE_MODE_PRE_COPY',
  POST_COPY: 'MIGRATE_MODE_POST_COPY',
};

/** "unix:/path" (a socket path) or "host:port". */
const ADDRESS = /^(unix:\/.+|(\[[^\]]+\]|[^:/\s]+):\d{1,5})$/;

/**
 * Migrate, on the source: checks with the destination before freezing
 * anything, dumps the tree with its pages going to the destination's page
 * server (relayed through the agents' own call), sends the other images with
 * the one checkpoint reader, and lets the destination restore. The tree is
 * never lost: until the destination reported it restored (stopped) the
 * source keeps it, stopped, and resumes it on any failure; then the source
 * kills its copy and the destination applies the final state.
 */
export class MigrateService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly dumper: DumpService,
    private readonly criu: CriuMigration,
    private readonly peers: PeerConnector,
  ) {}

  async migrate(p: MigrateParams, emit: (e: MigrateEvent) => Promise<void>, signal?: AbortSignal, requestId?: string): Promise<MigrateResult> {
    const decision = resolveFinalState('restore', p.requested);
    if (!decision.ok) throw new AgentError('invalid-argument', `final_state: ${decision.reason}`);
    const finalState = decision.applied;
    if (!ADDRESS.test(p.destination)) {
      throw new AgentError('invalid-argument', `destination ${JSON.stringify(p.destination.slice(0, 100))} is neither host:port nor unix:/path`);
    }
    const id = p.checkpointId ? validateCheckpointId(p.checkpointId) : `migrate-${p.pid}-${new Date().toISOString().replace(/[-:.TZ]/g, '')}`;
    const mode = await this.resolveMode(p.mode, signal);
    await guardTarget(p.pid, this.ctx.targetRules);
    await requireLiveProcess(p.pid);
    const snap = await snapshotTree(p.pid);
    if (!snap) throw new AgentError('not-found', `no process with pid ${p.pid} on this node`);
    guardTree(snap);
    if (treeStatus(snap) !== 'running') throw new AgentError('failed-precondition', `the tree of pid ${p.pid} is not running; Continue it first`);
    const release = this.ctx.locks.acquire([`migration of pid ${p.pid}`], `migration of pid ${p.pid} to ${p.destination}`);

    let session: PeerSession | undefined;
    let relay: DumpRelay | undefined;
    let held = false;
    let dumped = false;
    let killed = false;
    let restoredPid: number | undefined;
    /** Why the destination's page server failed, if it said so. */
    let pageServerFailed: MigrationPageServerClosed__Output | undefined;
    try {
      const cpuinfo = await this.cpuinfo(signal);
      const version = await this.ctx.version(signal);
      session = this.peers.open(p.destination, signal);
      // A lost destination must also fail a dump waiting on the page server: the relay is closed then.
      const replies = new Replies(
        session,
        (bytes) => relay?.toDump(bytes),
        (closed) => {
          if (closed.error) pageServerFailed ??= closed;
          relay?.endToDump();
        },
        () => relay?.close(),
      );
      await session.send({
        offer: {
          checkpoint_id: id,
          mode: WIRE_MODE[mode],
          pid: p.pid,
          pids: snap.processes.map((x) => x.pid),
          criu_version: version.text,
          cpuinfo,
          memory_bytes: await estimateMemoryBytes(snap),
          final_state: finalState === 'STOPPED' ? 'FINAL_STATE_STOPPED' : 'FINAL_STATE_RUNNING',
          restore_options: p.restoreOptions,
        },
      }).catch((err: unknown) => {
        // The destination may have refused the call before the offer went out (its policy answers at once);
        // one that could not be reached at all says so itself.
        const unreachable = err instanceof AgentError && err.kind === 'unavailable';
        throw signal?.aborted || unreachable ? err : refusal('the destination refused the tree', err);
      });
      const accepted = (await replies.expect('accepted', 'the destination refused the tree')).accepted;
      await emit({ step: 'ACCEPTED', message: `destination ${p.destination} accepted checkpoint ${id} (CRIU ${accepted?.criu_version}, kernel ${accepted?.kernel})` });

      relay = await DumpRelay.listen(session);
      // Written before the freeze: if this agent dies while the tree is held stopped for the
      // destination, the next start resumes it (resumeInterrupted) instead of leaving it stopped for good.
      const startTime = await readStartTime(p.pid);
      if (startTime === null) throw new AgentError('not-found', `pid ${p.pid} exited before the migration began`);
      await this.ctx.migrating.add({ pid: p.pid, startTime, by: `migration into checkpoint ${id} to ${p.destination}`, since: new Date().toISOString(), checkpointId: id });
      held = true;
      const dumpStarted = process.hrtime.bigint();
      const dump = await this.dumper.dump(
        { pid: p.pid, checkpointId: id, requested: 'STOPPED', parentId: '', options: p.options, pageServer: { address: '127.0.0.1', port: relay.port } },
        signal,
        requestId,
      );
      dumped = true;
      const dumpEnded = process.hrtime.bigint();
      await relay.finished();
      await session.send({ page_server_closed: true });
      const frozenUs = dump.stats?.frozenTimeUs ?? Number((dumpEnded - dumpStarted) / 1000n);
      // CRIU's frozen time runs from the freeze to the end of the dump (the tree is stopped from then on).
      const frozenAt = dumpEnded - BigInt(frozenUs) * 1000n;
      await emit({ step: 'DUMPED', message: `dumped pid ${p.pid}, pages sent to the destination's page server`, bytes: relay.bytes, durationUs: us(dumpEnded - dumpStarted) });

      const transferStarted = process.hrtime.bigint();
      let imageBytes = 0;
      for await (const item of readCheckpoints(this.ctx.store, await checkpointChain(this.ctx.store, id, false), signal)) {
        if (item.kind === 'data') imageBytes += item.bytes.length;
        await session.send({ chunk: chunkToWire(item) });
      }
      await session.send({ restore: {} });
      const transferUs = us(process.hrtime.bigint() - transferStarted);
      await emit({ step: 'TRANSFERRED', message: `sent the other images (${imageBytes} bytes)`, bytes: imageBytes, durationUs: transferUs });

      const restored = (await replies.expect('restored', 'the destination could not restore the tree')).restored;
      restoredPid = restored?.pid ?? 0;
      const restoreUs = Number(restored?.restore_time_us ?? 0);
      await emit({ step: 'RESTORED', message: `the destination restored pid ${restoredPid}, stopped`, durationUs: restoreUs });

      const now = await snapshotTree(p.pid);
      if (now) await signalTree(now, 'SIGKILL');
      killed = true;
      await session.send({ commit: {} });
      await replies.expect('done', `the tree was restored STOPPED on the destination as pid ${restoredPid} and killed here, but the destination did not confirm its final state; Continue it there`);
      const downtimeUs = us(process.hrtime.bigint() - frozenAt);
      session.end();
      const result: MigrateResult = {
        checkpointId: id,
        mode,
        destinationPid: restoredPid,
        pids: restored?.pids ?? [restoredPid],
        finalState,
        rounds: 0,
        downtimeUs,
        frozenTimeUs: frozenUs,
        transferBytes: relay.bytes + imageBytes,
        transferTimeUs: transferUs,
        restoreTimeUs: restoreUs,
      };
      await emit({ step: 'DONE', message: `pid ${p.pid} now runs on ${p.destination} as pid ${restoredPid} (${finalState})`, result });
      return result;
    } catch (err) {
      session?.cancel();
      relay?.close();
      if (killed) throw err;
      // The tree is still here (running, or stopped by the dump): it must run on.
      const resumed = await this.resume(p.pid);
      // A full disk here (the images it writes before sending them) stays RESOURCE_EXHAUSTED.
      const cause = toAgentError(err);
      if (pageServerFailed && !dumped) {
        // The dump's own error only says its page server went away; the destination said why.
        throw new AgentError(
          pageServerFailed.no_space ? 'resource-exhausted' : cause.kind,
          `the destination's page server failed (${pageServerFailed.error}), so the dump failed: ${cause.message}; ${resumed}`,
          { cause: err },
        );
      }
      throw new AgentError(cause.kind, `${cause.message}; ${resumed}`, { cause: err, details: cause.details });
    } finally {
      relay?.close();
      // The source's copy has no pages (they went to the destination): never leave it listed.
      if (dumped) await this.ctx.store.remove(id).catch(() => undefined);
      if (held) await this.ctx.migrating.remove(p.pid).catch(() => undefined);
      release();
    }
  }

  /**
   * At start-up, once the earlier run's CRIU processes are gone: the trees an
   * earlier run held stopped for a migration it never finished run on here.
   * (If the destination had restored its copy, it keeps it STOPPED and says
   * so; it never runs there without the source's commit.) The checkpoint the
   * migration wrote here has no pages: it goes. Returns what it did.
   */
  async resumeInterrupted(): Promise<string[]> {
    const done: string[] = [];
    for (const t of await this.ctx.migrating.all()) {
      const resumed = (await readStartTime(t.pid)) === t.startTime ? await this.resume(t.pid) : `pid ${t.pid} is gone`;
      if (t.checkpointId) await this.ctx.store.remove(t.checkpointId).catch(() => undefined);
      done.push(`${t.by}: ${resumed}`);
      await this.ctx.migrating.remove(t.pid);
    }
    return done;
  }

  /** The mode to use: UNSPECIFIED picks the best this node supports (the destination checks its side). */
  private async resolveMode(mode: MigrateParams['mode'], signal?: AbortSignal): Promise<MigrateModeName> {
    if (mode === 'UNSPECIFIED' || mode === 'STOP_AND_COPY') return 'STOP_AND_COPY';
    const f = await this.ctx.features(signal);
    const pre = mode === 'PRE_COPY';
    if (pre ? !f.memTrack : !f.lazyPages) {
      throw new AgentError(
        'failed-precondition',
        pre
          ? `PRE_COPY needs kernel memory tracking (soft-dirty, CONFIG_MEM_SOFT_DIRTY), which this node's kernel ${this.ctx.kernel} lacks (CRIU FEATURE_CHECK mem_track=false); nothing was frozen: use MIGRATE_MODE_STOP_AND_COPY`
          : `POST_COPY needs userfaultfd lazy pages, which this node's kernel ${this.ctx.kernel} does not offer CRIU (CRIU FEATURE_CHECK lazy_pages=false); nothing was frozen: use MIGRATE_MODE_STOP_AND_COPY`,
      );
    }
    throw new AgentError('failed-precondition', `${mode} is not implemented by this agent yet; nothing was frozen: use MIGRATE_MODE_STOP_AND_COPY`);
  }

  /** This node's CPU as CRIU's cpuinfo.img, for the destination's CPUINFO_CHECK. */
  private async cpuinfo(signal?: AbortSignal): Promise<Buffer> {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'criu-agent-cpuinfo-'));
    try {
      await this.criu.cpuinfoDump(dir, 'cpuinfo-dump.log', signal);
      return await fsp.readFile(path.join(dir, 'cpuinfo.img'));
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  /** Resumes the tree if the dump left it stopped; says what became of it. */
  private async resume(pid: number): Promise<string> {
    const snap = await snapshotTree(pid);
    const status = treeStatus(snap);
    if (!snap || status === 'gone') return `the tree of pid ${pid} is gone on the source`;
    if (status === 'stopped' || status === 'mixed') {
      await continueTree(snap);
      await this.ctx.stopped.remove(pid).catch(() => undefined);
      return `the tree was resumed on the source (pid ${pid}) and nothing was left on the destination`;
    }
    return `the tree keeps running on the source (pid ${pid}) and nothing was left on the destination`;
  }
}

/** A failure of the call to the destination, prefixed with the step it failed; keeps its kind (the destination's status). */
function refusal(failure: string, err: unknown): AgentError {
  const kind = err instanceof AgentError ? err.kind : 'unavailable';
  return new AgentError(kind, `${failure}: ${errorMessage(err)}`, { cause: err });
}

function us(ns: bigint): number {
  return Number(ns / 1000n);
}

/**
 * The destination's replies, read by one loop: the page server's bytes go to
 * the dump's connection as they come, the other replies wait for expect().
 */
class Replies {
  private readonly queue: MigrationReply__Output[] = [];
  private waiter?: () => void;
  private error?: unknown;
  private ended = false;

  constructor(
    session: PeerSession,
    pageData: (bytes: Buffer) => void,
    pageServerClosed: (closed: MigrationPageServerClosed__Output) => void,
    onLost: () => void,
  ) {
    void (async () => {
      try {
        for (;;) {
          const r = await session.receive();
          if (!r) break;
          if (r.page_server_data) pageData(r.page_server_data);
          else if (r.page_server_closed) pageServerClosed(r.page_server_closed);
          else this.queue.push(r);
          this.waiter?.();
        }
      } catch (err) {
        this.error = err;
        onLost();
      }
      this.ended = true;
      this.waiter?.();
    })();
  }

  async expect<K extends 'accepted' | 'restored' | 'done'>(kind: K, failure: string): Promise<MigrationReply__Output> {
    for (;;) {
      const r = this.queue.shift();
      if (r) {
        if (r[kind]) return r;
        throw new AgentError('internal', `${failure}: the destination answered ${r.reply ?? 'nothing'} where ${kind} was due`);
      }
      if (this.error !== undefined) {
        throw refusal(failure, this.error);
      }
      if (this.ended) throw new AgentError('unavailable', `${failure}: the destination ended the call`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }
}

/**
 * The page server address the source's CRIU dumps to: a loopback listener
 * whose one connection is relayed, both ways, through the ReceiveMigration
 * call to the destination's page server.
 */
class DumpRelay {
  bytes = 0;
  private socket?: net.Socket;
  private readonly done: Promise<void>;
  private sending = Promise.resolve();
  private peerEnded = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    session: PeerSession,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      server.once('connection', (sock) => {
        this.socket = sock;
        server.close();
        if (this.peerEnded) sock.end();
        sock.on('data', (d: Buffer) => {
          this.bytes += d.length;
          sock.pause();
          this.sending = this.sending.then(() => session.send({ page_server_data: d })).then(
            () => void sock.resume(),
            (err: unknown) => {
              sock.destroy();
              reject(err instanceof Error ? err : new Error(String(err)));
            },
          );
        });
        sock.once('end', () => void this.sending.then(resolve, reject));
        sock.once('error', reject);
      });
    });
    this.done.catch(() => undefined);
  }

  static async listen(session: PeerSession): Promise<DumpRelay> {
    const server = net.createServer({ pauseOnConnect: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address() as net.AddressInfo;
    return new DumpRelay(server, addr.port, session);
  }

  /** Bytes the destination's page server answered. */
  toDump(bytes: Buffer): void {
    this.socket?.write(bytes);
  }

  /** The destination's page server closed its side: so does the dump's connection (after the bytes before). */
  endToDump(): void {
    this.peerEnded = true;
    this.socket?.end();
  }

  /** Resolves once the dump closed its connection and every byte was handed to the session. */
  async finished(): Promise<void> {
    if (!this.socket) throw new AgentError('internal', 'the dump never connected to the page server relay');
    await this.done;
    this.socket.end();
  }

  close(): void {
    this.server.close();
    this.socket?.destroy();
  }
}
