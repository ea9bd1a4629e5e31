/**
 * npm run soak -- --minutes N [--seed S] [--json FILE]: a day of an agent's
 * life in minutes (bench/soak/README.md). One real agent, real CRIU, real
 * trees; a seeded mix of operations, hostile calls and faults; invariants
 * checked as it goes and at the end. Exits 1 naming every broken invariant
 * and the seed, 2 on wrong usage or a failed set-up.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeFilesFixture } from '../lib/workloads';
import { SoakAgent } from './agent';
import { Checker, othersHold } from './checks';
import { INVARIANTS, sleep, Soak } from './context';
import { FaultRunner, faultSchedule } from './faults';
import { Ledger } from './ledger';
import { activeOps, restorable, restoreEntry, runOne } from './ops';
import { judge, sample, type ResourceSample } from './resources';
import { stillSame } from './procs';
import { Rng } from './rng';
import { SHAPES, TargetPool } from './targets';

const USAGE = `usage: npm run soak -- --minutes N [--seed S] [--json FILE] [--workers N] [--keep]
  --minutes N   how long the mix runs (decimals allowed), before the final checks (about a minute more)
  --seed S      the seed of every choice (default: from the clock; printed either way)
  --json FILE   write the summary there as JSON
  --workers N   operations in flight at once (default 2)
  --keep        keep the work directory (agent log, failed CRIU logs) even when every invariant held`;

interface Options {
  minutes: number;
  seed: number;
  json?: string;
  workers: number;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: NaN, seed: Date.now() % 2 ** 31, workers: 2, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--minutes') o.minutes = Number(value());
    else if (a === '--seed') o.seed = Number(value());
    else if (a === '--json') o.json = path.resolve(value());
    else if (a === '--workers') o.workers = Number(value());
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(o.minutes > 0)) throw new Error('--minutes N is required (N > 0)');
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new Error('--seed must be a non-negative integer');
  if (!Number.isSafeInteger(o.workers) || o.workers < 1 || o.workers > 8) throw new Error('--workers must be 1 to 8');
  return o;
}

/** The soak's subreaper (bench/subreaper.py, as npm run soak runs it), else the soak itself: whose descendants are the soak's own. */
function rootPid(): number {
  try {
    const cmd = fs.readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8');
    if (cmd.includes('subreaper.py')) return process.ppid;
  } catch {
    // no parent to read
  }
  return process.pid;
}

const TMPFS_MIB = 640;
const FILES = 300;

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`soak: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const durationSec = opts.minutes * 60;
  const log = (line: string): void => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);
  log(`seed ${opts.seed}, ${opts.minutes} min, ${opts.workers} workers`);

  const workDir = fs.mkdtempSync(path.join('/var/tmp', 'criu-soak-'));
  const fsDir = path.join(workDir, 'fs');
  const stateDir = path.join(fsDir, 'state');
  const filesDir = path.join(workDir, 'files');
  const scratch = path.join(workDir, 'scratch');
  fs.mkdirSync(fsDir);
  fs.mkdirSync(scratch);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MIB}m,mode=0700`, 'tmpfs', fsDir], { stdio: 'pipe' });
  } catch (err) {
    console.error(`soak: cannot mount a tmpfs for the state dir (root needed): ${(err as Error).message}`);
    fs.rmSync(workDir, { recursive: true, force: true });
    return 2;
  }
  let mounted = true;
  const unmount = (): void => {
    if (!mounted) return;
    mounted = false;
    try {
      execFileSync('umount', [fsDir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', fsDir], { stdio: 'pipe' });
    }
  };
  process.once('exit', unmount);

  await makeFilesFixture(filesDir, FILES);
  const agent = new SoakAgent(path.join(workDir, 'agent.sock'), stateDir, path.join(workDir, 'agent.log'), ['--pid-wait-ms', '1000']);
  const pool = new TargetPool(scratch, filesDir);
  const ledger = new Ledger();
  try {
    await agent.start();
  } catch (err) {
    console.error(`soak: ${(err as Error).message}`);
    unmount();
    return 2;
  }
  let peerRef: SoakAgent | undefined;
  // On a crash of the soak itself: no tree, agent or mount of the soak's is left behind.
  crashCleanup = async (): Promise<void> => {
    for (const t of pool.all()) await pool.retire(t).catch(() => undefined);
    await agent.kill().catch(() => undefined);
    await peerRef?.kill().catch(() => undefined);
    unmount();
  };
  const soak = new Soak(agent, pool, ledger, opts.seed, stateDir, rootPid(), log);
  const checker = new Checker(soak);
  // The second node, for Migrate: off the tmpfs (the fs-fill fault is the soak agent's alone).
  const peer = soak.hasRpc('Migrate')
    ? new SoakAgent(path.join(workDir, 'peer.sock'), path.join(workDir, 'peer-state'), path.join(workDir, 'peer.log'), ['--pid-wait-ms', '1000'], true)
    : undefined;
  if (peer) {
    try {
      await peer.start();
    } catch (err) {
      console.error(`soak: the second node (for Migrate): ${(err as Error).message}`);
      await agent.kill();
      unmount();
      return 2;
    }
    soak.peer = peer;
    peerRef = peer;
    await checker.notePeerBase();
  }
  // An agent that ends on its own crashed (Node ends on an unhandled error):
  // a broken promise, counted, and started again at once as systemd would.
  for (const [a, name] of [[agent, 'the agent'], [peer, 'the second node']] as const) {
    if (!a) continue;
    a.onCrash = (how, lastWords) => {
      const said = lastWords.trim().split('\n').filter((l) => !l.startsWith('{')).slice(0, 6).join(' | ').slice(0, 600);
      soak.violation('agent-stays-up', `${name} (pid ${a.pid}) exited on its own, ${how}${said ? `: ${said}` : ''}`);
      a.start().then(
        () => soak.log(`  ${name} started again as pid ${a.pid}`),
        (err: unknown) => soak.log(`  ${name} did not start again: ${(err as Error).message}`),
      );
    };
  }
  const faults = new FaultRunner(soak, new Rng(opts.seed, 1000), fsDir);
  const schedule = faultSchedule(new Rng(opts.seed, 1001), durationSec);
  const ops = activeOps(soak);
  log(
    `agent ${agent.pid}, state dir ${stateDir} (tmpfs ${TMPFS_MIB} MiB), root ${soak.rootPid}${peer ? `, second node ${peer.pid} (${peer.stateDir})` : ''}; ops: ${ops.map((o) => o.name).join(', ')}`,
  );
  log(`faults: ${schedule.map((f) => `${f.kind}@${f.atSec}s`).join(', ')}`);
  const stopOnSignal = (): void => {
    log('interrupted: finishing with the final checks');
    soak.stopping = true;
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  // A first tree of every shape.
  for (const shape of SHAPES.slice(0, 4)) pool.release(await pool.start(shape));

  const samples: ResourceSample[] = [];
  let lagMaxMs = 0;
  const workerBusy: boolean[] = [];
  const workers = Array.from({ length: opts.workers }, async (_, w) => {
    const rng = new Rng(opts.seed, w);
    workerBusy[w] = false;
    while (!soak.stopping && soak.elapsed() < durationSec) {
      // Re-checked with no await before `busy`: the checker pauses between turns of the event loop.
      while (soak.paused && !soak.stopping) await soak.holdWhilePaused();
      if (soak.stopping) break;
      workerBusy[w] = true;
      try {
        await runOne(soak, rng, w + 1, ops);
      } catch (err) {
        soak.surprise('op threw', (err as Error).stack?.slice(0, 600) ?? String(err));
      } finally {
        workerBusy[w] = false;
      }
      await sleep(rng.int(0, 40));
    }
  });
  const faultLoop = faults.run(schedule, durationSec);

  // Quiet points: hold everything still, check everything, sample the agent.
  const checkEverySec = Math.min(30, Math.max(10, durationSec / 10));
  const checkRng = new Rng(opts.seed, 2000);
  const quietPoint = async (): Promise<void> => {
    soak.paused = true;
    while (workerBusy.some((b) => b) || faults.busy) await sleep(50);
    try {
      await checker.quiet(false, checkRng);
      const s = await sample(agent, soak.elapsed());
      if (s) samples.push(s);
    } finally {
      soak.paused = false;
    }
  };
  let nextCheck = checkEverySec;
  let nextSample = 5;
  while (!soak.stopping && soak.elapsed() < durationSec) {
    await sleep(250);
    if (soak.elapsed() >= nextSample) {
      nextSample += 5;
      const m = await agent.scrape();
      if (m && Number.isFinite(m.eventLoopMaxMs)) lagMaxMs = Math.max(lagMaxMs, m.eventLoopMaxMs);
    }
    if (soak.elapsed() >= nextCheck) {
      await quietPoint();
      nextCheck = soak.elapsed() + checkEverySec;
      log(
        `${soak.elapsed().toFixed(0)}s: ${soak.callsTotal} calls, ${pool.size()} trees, ${ledger.present().length} checkpoints, ${[...soak.violations.values()].reduce((a, v) => a + v.count, 0)} broken`,
      );
    }
  }
  soak.stopping = true;
  await Promise.all(workers);
  await faultLoop;
  soak.stopping = false;
  const opsSec = soak.elapsed();
  log(`mix done after ${opsSec.toFixed(0)} s: final checks`);

  // The end: one more quiet point, then every checkpoint's files, then restores of those never restored.
  await sleep(2000);
  await checker.quiet(false, checkRng);
  const last = await sample(agent, soak.elapsed());
  if (last) samples.push(last);
  for (const t of pool.all()) await pool.retire(t);
  const finalDeadline = Date.now() + 120_000;
  let finalRestores = 0;
  for (const e of ledger.present().filter((x) => x.kind === 'dump' && x.restoresVerified === 0)) {
    if (Date.now() > finalDeadline || finalRestores >= 12) break;
    const free = (await restorable(soak, (x) => x.id === e.id)).length > 0;
    if (!free) {
      checker.figures.finalRestoreUnverifiable++;
      continue;
    }
    const before = e.restoresVerified;
    const r = await restoreEntry(soak, e, 'FINAL_STATE_RUNNING', 'final.Restore', { expect: [grpc.status.OK] });
    if (e.restoresVerified > before) finalRestores++;
    // Another process (not the soak's) took one of the tree's pids or its port meanwhile.
    else if (othersHold(r)) checker.figures.finalRestoreUnverifiable++;
    else
      soak.violation(
        'restorable',
        `listed checkpoint ${e.id} did not restore at the end: ${grpc.status[r.code]}: ${r.details.slice(0, 300)}`,
      );
    for (const t of pool.all()) await pool.retire(t);
  }
  checker.figures.finalRestores = finalRestores;
  await checker.quiet(true, checkRng);
  checker.figures.listedAtEnd = (await checker.list())?.size ?? 0;
  for (const t of pool.all()) await pool.retire(t);

  await agent.stop();
  if (peer) {
    const left = await checker.peerProcesses();
    await peer.stop();
    // Killing its unshare ends its pid namespace: every process in it goes.
    for (let i = 0; i < 200 && (await Promise.all(left.map((o) => stillSame(o)))).some(Boolean); i++) await sleep(50);
    const peerDir = path.join(peer.stateDir, 'checkpoints');
    for (const n of fs.existsSync(peerDir) ? fs.readdirSync(peerDir) : []) {
      if (n.startsWith('.tmp-')) soak.violation('no-temp-left', `temporary directory ${n} left in the second node's ${peerDir} after it stopped`);
      else soak.violation('nothing-half-written', `checkpoint ${n} left in the second node's ${peerDir}, though the soak deleted every Migrate's there`);
    }
  }
  await sleep(1000);
  await checker.checkStrays(true);
  const tmpLeft = fs.readdirSync(path.join(stateDir, 'checkpoints')).filter((n) => n.startsWith('.tmp-'));
  for (const n of tmpLeft) soak.violation('no-temp-left', `temporary checkpoint directory ${n} left after the agent stopped`);
  const failedDir = path.join(stateDir, 'failed');
  const failedLogs = fs.readdirSync(failedDir);
  const failedBytes = failedLogs.reduce((a, n) => a + fs.statSync(path.join(failedDir, n)).size, 0);

  const resources = judge(samples);
  for (const inc of resources) {
    for (const g of inc.growth) soak.violation('resources-flat', `agent incarnation ${inc.incarnation}: ${g}`);
  }

  const tallies = soak.summaryTallies();
  const broken = INVARIANTS.filter((i) => tallies.violations[i] !== undefined);
  const summary = {
    seed: opts.seed,
    minutes: opts.minutes,
    workers: opts.workers,
    passed: broken.length === 0,
    broken,
    invariants: Object.fromEntries(INVARIANTS.map((i) => [i, tallies.violations[i] ?? { count: 0, examples: [] }])),
    durationSec: Math.round(soak.elapsed()),
    opsPhaseSec: Math.round(opsSec),
    calls: soak.callsTotal,
    callsPerSec: Math.round((soak.callsTotal / opsSec) * 100) / 100,
    byMethod: tallies.byMethod,
    byOp: tallies.byOp,
    faults: tallies.faults,
    faultsScheduled: schedule.length,
    agentRestarts: faults.restarts,
    checkpoints: { ledger: ledger.counts(), ...checker.figures, failedLogs: failedLogs.length, failedLogBytes: failedBytes },
    targets: { started: pool.started, restored: pool.restored, retired: pool.retired },
    resources: { incarnations: resources, eventLoopMaxMs: Math.round(lagMaxMs), samples },
    surprises: tallies.surprises,
    workDir: '',
  };

  const keep = opts.keep || broken.length > 0;
  if (keep) {
    fs.cpSync(failedDir, path.join(workDir, 'failed'), { recursive: true });
    summary.workDir = workDir;
  }
  unmount();
  if (!keep) fs.rmSync(workDir, { recursive: true, force: true });
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(summary, null, 2) + '\n');
  printSummary(summary);
  if (broken.length > 0) {
    console.log(
      `\nSOAK FAILED (seed ${opts.seed}): broken invariants: ${broken.join(', ')}; agent log and failed CRIU logs kept in ${workDir}`,
    );
    console.log(`rerun: npm run soak -- --minutes ${opts.minutes} --seed ${opts.seed}`);
    return 1;
  }
  console.log(`\nSOAK PASSED (seed ${opts.seed}): every invariant held`);
  return 0;
}

function printSummary(s: {
  seed: number;
  calls: number;
  callsPerSec: number;
  opsPhaseSec: number;
  byMethod: Record<string, Record<string, number>>;
  byOp: Record<string, Record<string, number>>;
  faults: Record<string, { count: number }>;
  agentRestarts: number;
  checkpoints: object;
  targets: object;
  invariants: Record<string, { count: number; examples: string[] }>;
  surprises: Record<string, { count: number; examples: string[] }>;
  resources: { incarnations: ReturnType<typeof judge>; eventLoopMaxMs: number };
}): void {
  const line = (m: Record<string, number>): string =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  console.log(`\n== soak summary (seed ${s.seed}): ${s.calls} calls in ${s.opsPhaseSec} s (${s.callsPerSec}/s)`);
  console.log('calls by RPC and status:');
  for (const [k, v] of Object.entries(s.byMethod)) console.log(`  ${k.padEnd(18)} ${line(v)}`);
  console.log('calls by operation and status:');
  for (const [k, v] of Object.entries(s.byOp)) console.log(`  ${k.padEnd(34)} ${line(v)}`);
  console.log(
    `faults: ${
      Object.entries(s.faults)
        .map(([k, v]) => `${k} ${v.count}`)
        .join(', ') || 'none'
    }; agent restarts ${s.agentRestarts}`,
  );
  console.log(`checkpoints: ${JSON.stringify(s.checkpoints)}`);
  console.log(`targets: ${JSON.stringify(s.targets)}`);
  console.log('agent resources (after warm-up, per agent process; start -> end, slope per minute):');
  for (const inc of s.resources.incarnations) {
    const f = (x?: { start: number; end: number; slopePerMin: number }): string =>
      x ? `${x.start} -> ${x.end} (${x.slopePerMin}/min)` : 'n/a';
    console.log(
      `  #${inc.incarnation} ${inc.fromSec}-${inc.toSec}s, ${inc.samples} samples${inc.judged ? '' : ' (too few to judge)'}: RSS MiB ${f(inc.rssMiB)}; heap MiB ${f(inc.heapMiB)}; fds ${f(inc.fds)}; event-loop p99 ms ${f(inc.eventLoopP99Ms)}`,
    );
  }
  console.log(`  event-loop delay max seen: ${s.resources.eventLoopMaxMs} ms`);
  const surprises = Object.entries(s.surprises);
  if (surprises.length > 0) {
    console.log('surprises (listed statuses the op did not expect, and other oddities; not failures):');
    for (const [k, v] of surprises) console.log(`  ${v.count}x ${k}: ${v.examples[0] ?? ''}`);
  }
  console.log('invariants:');
  for (const [k, v] of Object.entries(s.invariants)) {
    console.log(`  ${v.count === 0 ? 'held  ' : 'BROKEN'} ${k}${v.count ? ` (${v.count}x)` : ''}`);
    for (const ex of v.examples.slice(0, 4)) console.log(`           ${ex}`);
  }
}

let crashCleanup: (() => Promise<void>) | undefined;

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error(`soak: ${(err as Error).stack ?? String(err)}`);
    await crashCleanup?.();
    process.exit(2);
  },
);
