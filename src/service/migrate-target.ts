import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CriuMigration } from '../criu/client';
import { AgentError, errorMessage } from '../errors';
import type { MigrationOffer__Output } from '../generated/criu_agent/v1/MigrationOffer';
import type { MigrationReply } from '../generated/criu_agent/v1/MigrationReply';
import type { MigrationStep__Output } from '../generated/criu_agent/v1/MigrationStep';
import type { Logger } from '../log';
import { setTimeout as sleep } from 'node:timers/promises';
import { pidInUse, readProcess, signalTree, snapshotTree } from '../proctree';
import { validateCheckpointId, type PendingCheckpoint } from '../store';
import { CheckpointWriter, chunkFromWire } from '../transfer';
import type { ServiceContext } from './context';
import type { ContinueService } from './continue';
import { validateRestoreOptions } from './options';
import type { RestoreService } from './restore';

/** The page server's log, kept in the checkpoint directory (and left out of its digests: it is no image). */
export const PAGE_SERVER_LOG = 'page-server.log';
/** Room on top of the tree's memory for CRIU's other images and logs. */
const SPACE_MARGIN_BYTES = 32 * 1024 * 1024;
/** How long the page server may take to finish writing after the dump closed its connection. */
const PAGE_SERVER_EXIT_MS = 60_000;

/**
 * The destination's side of a migration (ReceiveMigration): checks an offer,
 * runs a CRIU page server for the source's dump and relays its traffic,
 * receives the other images through the one checkpoint writer, restores the
 * tree STOPPED, and applies the final state once the source killed its copy.
 * The call is the session: ended (error, cancel, lost connection) before the
 * tree was reported restored, it leaves nothing behind (no page server, no
 * checkpoint, no restored process).
 */
export class MigrationTargetService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly criu: CriuMigration,
    private readonly restorer: RestoreService,
    private readonly continuer: ContinueService,
    private readonly log?: Logger,
  ) {}

  async receive(
    steps: AsyncIterable<MigrationStep__Output>,
    reply: (r: MigrationReply) => Promise<void>,
    signal?: AbortSignal,
    requestId?: string,
  ): Promise<void> {
    const it = steps[Symbol.asyncIterator]();
    const next = async (): Promise<MigrationStep__Output | null> => {
      const r = await it.next();
      return r.done ? null : r.value;
    };
    const first = await next();
    if (!first?.offer) throw new AgentError('invalid-argument', 'ReceiveMigration: the first step must be the offer');
    const offer = first.offer;
    const id = validateCheckpointId(offer.checkpoint_id);
    if (offer.final_state === 'FINAL_STATE_DEAD') throw new AgentError('invalid-argument', 'a migrated tree cannot end DEAD on the destination');
    const finalState = offer.final_state === 'FINAL_STATE_STOPPED' ? 'STOPPED' : 'RUNNING';
    const restoreOptions = validateRestoreOptions(offer.restore_options);
    const release = this.ctx.locks.acquire([`migration ${id}`], `migration into checkpoint ${id}${requestId ? ` (request ${requestId})` : ''}`);

    let pending: PendingCheckpoint | undefined;
    let pageServerPid: number | undefined;
    let relay: PageServerRelay | undefined;
    let committed = false;
    let restored: { pid: number; pids: number[] } | undefined;
    let reported = false;
    try {
      await this.check(offer, signal);
      pending = await this.ctx.store.create(id);
      const ps = await this.criu.pageServer(pending.dir, PAGE_SERVER_LOG, { address: '127.0.0.1', port: await freeLoopbackPort() }, signal);
      pageServerPid = ps.pid;
      await reply({ accepted: { criu_version: (await this.ctx.version(signal)).text, kernel: this.ctx.kernel } });
      const logPath = path.join(pending.dir, PAGE_SERVER_LOG);
      relay = new PageServerRelay(
        ps.port,
        (bytes) => reply({ page_server_data: bytes }),
        async () => reply({ page_server_closed: await pageServerEnd(ps.pid, logPath, this.ctx.store.checkpointsDir) }),
      );
      const writer = new CheckpointWriter(this.ctx.store, { pending, logFile: PAGE_SERVER_LOG });
      for (;;) {
        signal?.throwIfAborted();
        const s = await next();
        if (!s) throw new AgentError('aborted', `the source ended the migration of checkpoint ${id} before it was restored`);
        if (s.page_server_data) {
          await relay.write(s.page_server_data);
        } else if (s.page_server_closed) {
          await relay.close();
          if (!(await waitGone(ps.pid, PAGE_SERVER_EXIT_MS))) {
            throw new AgentError('internal', `the page server (pid ${ps.pid}) did not finish within ${PAGE_SERVER_EXIT_MS / 1000} s after the dump closed its connection; log: ${path.join(pending.dir, PAGE_SERVER_LOG)}`);
          }
          pageServerPid = undefined;
        } else if (s.chunk) {
          await writer.accept(chunkFromWire(s.chunk));
        } else if (s.restore) {
          if (pageServerPid !== undefined) throw new AgentError('invalid-argument', 'restore asked before the page server connection was closed');
          await writer.commit();
          committed = true;
          const r = await this.restorer.restore({ checkpointId: id, requested: 'STOPPED', options: restoreOptions }, signal, requestId);
          restored = { pid: r.pid, pids: r.pids };
          await reply({ restored: { pid: r.pid, pids: r.pids, restore_time_us: r.stats?.restoreTimeUs ?? 0 } });
          reported = true;
        } else if (s.commit) {
          if (!restored || !reported) throw new AgentError('invalid-argument', 'commit before the tree was restored');
          if (finalState === 'RUNNING') await this.continuer.continue(restored.pid);
          await reply({ done: { final_state: finalState === 'RUNNING' ? 'FINAL_STATE_RUNNING' : 'FINAL_STATE_STOPPED' } });
          return;
        } else {
          throw new AgentError('invalid-argument', 'ReceiveMigration: an empty or repeated offer step');
        }
      }
    } catch (err) {
      relay?.destroy();
      if (reported && restored) {
        // The source may already have killed its copy: this one must not be lost. It stays STOPPED.
        this.log?.warn(
          { checkpointId: id, pid: restored.pid, error: errorMessage(err) },
          'migration ended after the tree was restored here: it is left STOPPED; Continue it if the source no longer runs it',
        );
        throw new AgentError(
          err instanceof AgentError ? err.kind : 'unavailable',
          `${errorMessage(err)}; the tree was restored here as pid ${restored.pid} and is left STOPPED`,
          { cause: err },
        );
      }
      if (pageServerPid !== undefined) killQuietly(pageServerPid);
      if (restored) {
        const snap = await snapshotTree(restored.pid);
        if (snap) await signalTree(snap, 'SIGKILL').catch(() => undefined);
      }
      if (committed) await this.ctx.store.remove(id).catch(() => undefined);
      else await pending?.discard();
      throw err;
    } finally {
      relay?.destroy();
      release();
    }
  }

  /** Everything that can refuse the tree before the source freezes it. */
  private async check(offer: MigrationOffer__Output, signal?: AbortSignal): Promise<void> {
    const id = offer.checkpoint_id;
    if (await this.ctx.store.get(id)) throw new AgentError('already-exists', `checkpoint ${id} already exists on the destination; choose another checkpoint_id`);
    const version = await this.ctx.version(signal);
    if (compareVersions(version.text, offer.criu_version) < 0) {
      throw new AgentError('failed-precondition', `the destination's CRIU ${version.text} is older than the source's ${offer.criu_version}, and may not read its images`);
    }
    const features = await this.ctx.features(signal);
    if (offer.mode === 'MIGRATE_MODE_PRE_COPY' || offer.mode === 'MIGRATE_MODE_POST_COPY') {
      const pre = offer.mode === 'MIGRATE_MODE_PRE_COPY';
      const has = pre ? features.memTrack : features.lazyPages;
      throw new AgentError(
        'failed-precondition',
        has
          ? `${pre ? 'PRE_COPY' : 'POST_COPY'} is not implemented by this agent yet; use MIGRATE_MODE_STOP_AND_COPY`
          : `${pre ? 'PRE_COPY needs kernel memory tracking (soft-dirty)' : 'POST_COPY needs userfaultfd lazy pages'}, which the destination's kernel ${this.ctx.kernel} lacks`,
      );
    }
    await this.checkCpu(offer.cpuinfo, signal);
    for (const pid of offer.pids.length ? offer.pids : [offer.pid]) {
      if (!(await pidInUse(pid))) continue;
      const holder = await readProcess(pid);
      throw new AgentError(
        'already-exists',
        `pid ${pid} of the tree is in use on the destination${holder ? ` by ${holder.comm}` : ''}: CRIU restores every process with its pid; migrate to a node (or pid namespace) where they are free`,
      );
    }
    const fs = await fsp.statfs(this.ctx.store.checkpointsDir);
    const free = fs.bavail * fs.bsize;
    const need = Number(offer.memory_bytes) + SPACE_MARGIN_BYTES;
    if (need > free) {
      throw new AgentError(
        'resource-exhausted',
        `the destination has ${mib(free)} MiB free in ${this.ctx.store.checkpointsDir}, the tree needs about ${mib(need)} MiB; free some space there`,
      );
    }
  }

  private async checkCpu(cpuinfo: Buffer, signal?: AbortSignal): Promise<void> {
    if (cpuinfo.length === 0) throw new AgentError('invalid-argument', "the offer carries no cpuinfo (the source's CRIU cpuinfo dump)");
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'criu-agent-cpuinfo-'));
    try {
      await fsp.writeFile(path.join(dir, 'cpuinfo.img'), cpuinfo);
      if (!(await this.criu.cpuinfoCheck(dir, 'cpuinfo-check.log', signal))) {
        const log = await fsp.readFile(path.join(dir, 'cpuinfo-check.log'), 'utf8').catch(() => '');
        const said = log.split('\n').filter((l) => /Error|mismatch|not/i.test(l)).slice(-3).join(' | ');
        throw new AgentError('failed-precondition', `the destination's CPU cannot run the tree (CRIU cpuinfo check failed${said ? `: ${said}` : ''})`);
      }
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * The TCP connection to the local CRIU page server, fed with the bytes the
 * source's dump sent and sending back what the page server answers. The page
 * server listens on this node's loopback only: its traffic travels between
 * the nodes inside the agents' gRPC call (TLS and the policy apply).
 *
 * The page server closing its side travels too (`ended`): it closes after
 * answering the dump's last request, but also when it fails (a full disk),
 * and then the source's dump, waiting for an answer that never comes, would
 * otherwise hold the tree frozen until the call's deadline.
 */
export class PageServerRelay {
  private socket?: net.Socket;
  private closed?: Promise<void>;
  private ended = false;
  private sending = Promise.resolve();
  private failed?: Error;

  constructor(
    private readonly port: number,
    private readonly back: (bytes: Buffer) => Promise<void>,
    private readonly onEnd: () => Promise<void>,
  ) {}

  async write(bytes: Buffer): Promise<void> {
    const sock = await this.connect();
    // Bytes the dump sent before it heard the page server is gone: nobody
    // reads them, and onEnd tells the source why (a reset is no error of the relay's).
    if (this.ended) return;
    this.rethrow();
    if (sock.write(bytes)) return;
    // Both listeners go once either fired: one left per slow write piled up
    // on the socket for the whole transfer (Node's MaxListenersExceededWarning in the soak).
    await new Promise<void>((resolve) => {
      const done = (): void => {
        sock.off('drain', done);
        sock.off('close', done);
        resolve();
      };
      sock.on('drain', done);
      sock.on('close', done);
    });
    if (!this.ended) this.rethrow();
  }

  /** Half-closes towards the page server, waits until it closed too and every answer was sent back. */
  async close(): Promise<void> {
    const sock = await this.connect();
    sock.end();
    await this.closed;
    await this.sending;
    this.rethrow();
  }

  /** Ends the relay for good: the call is over, nobody is told of the page server's end. */
  destroy(): void {
    this.ended = true;
    this.socket?.destroy();
  }

  private rethrow(): void {
    if (this.failed) throw this.failed;
  }

  private connect(): Promise<net.Socket> {
    if (this.socket) return Promise.resolve(this.socket);
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port: this.port });
      this.socket = sock;
      this.closed = new Promise<void>((done) => sock.once('close', () => done()));
      sock.once('connect', () => resolve(sock));
      sock.on('error', (err) => {
        this.failed = new AgentError('internal', `the connection to the local page server failed: ${err.message}`, { cause: err });
        reject(this.failed);
      });
      sock.on('data', (d: Buffer) => {
        sock.pause();
        this.sending = this.sending.then(() => this.back(d)).then(
          () => void sock.resume(),
          (err: unknown) => {
            this.failed = err instanceof Error ? err : new Error(String(err));
            sock.destroy();
          },
        );
      });
      // The page server's end, however it came: a FIN ('end') when it closed
      // after reading everything, or a reset ('error', then 'close') when it
      // died with bytes of the dump still unread (a full disk, mid-transfer:
      // seen in the soak, where no 'end' came, the source was never told, and
      // its dump waited for an answer until the call's deadline).
      const ended = (): void => {
        if (this.ended) return;
        this.ended = true;
        // After every answer before it, in order.
        this.sending = this.sending.then(() => this.onEnd()).catch((err: unknown) => {
          this.failed ??= err instanceof Error ? err : new Error(String(err));
        });
      };
      sock.once('end', ended);
      sock.once('close', ended);
    });
  }
}

/** Below this much free space, a page server that closed on its own ran out of room. */
const NO_SPACE_BYTES = 1024 * 1024;

/**
 * Why the page server (which closed its connection) failed, as far as this
 * node can tell once it exited: the last error line of its log (read only to
 * tell a person what went wrong), and whether the disk is full, which the
 * log cannot say when it was that very disk that filled.
 */
async function pageServerEnd(pid: number, logPath: string, dir: string): Promise<{ error: string; no_space: boolean }> {
  await waitGone(pid, 5_000);
  const text = await fsp.readFile(logPath, 'utf8').catch(() => '');
  const logged = text.split('\n').filter((l) => /\bError \(/.test(l)).at(-1)?.replace(/^\([\d.\s]+\)\s*/, '').trim() ?? '';
  const st = await fsp.statfs(dir).catch(() => undefined);
  const free = st ? st.bavail * st.bsize : Infinity;
  const noSpace = free < NO_SPACE_BYTES || /No space left on device/.test(logged);
  if (!noSpace) return { error: logged, no_space: false };
  const room = `${dir} has ${mib(free)} MiB free`;
  return { error: logged ? `${logged}; ${room}` : `the destination's disk is full: ${room}`, no_space: true };
}

/** A loopback TCP port free now (CRIU's page server binds it right after). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const p = await readProcess(pid);
    if (!p || p.tasks.every((t) => t.state === 'zombie' || t.state === 'dead')) return true;
    await sleep(20);
  }
  return false;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** -1, 0, 1 as version a ("4.2.1") is older, the same, newer than b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
