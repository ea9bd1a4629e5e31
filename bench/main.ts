/**
 * The benchmark of issue #7: the agent over gRPC versus the criu command line
 * (bench/README.md). Run through `npm run bench` (bench/run.sh), which builds
 * it and runs it under bench/subreaper.py.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readDumpStats, readRestoreStats } from '../src/criu/stats';
import { packageRoot } from '../src/paths';
import { digestDirectory } from '../src/store/digest';
import { startBenchAgent, startFloorServer, statusName, type BenchAgent, type FloorServer } from './lib/agent';
import { digestProbe, type DigestProbeResult } from './lib/digestProbe';
import { proctreeProbe, type ProctreeProbeResult } from './lib/proctreeProbe';
import { cliDump, cliRestore, criuLogSpanMs, phasesOf, resolveCriu } from './lib/criu';
import { renderChart, type ChartInput } from './lib/chart';
import {
  concurrencyTable,
  digestTable,
  proctreeTable,
  latencyTable,
  opsTable,
  phasesTable,
  summarize,
  throughputTable,
  type ConcurrencyTrial,
  type DdRun,
  type LatencySample,
  type OpSample,
  type OpSummary,
  type ThroughputSummary,
  type Via,
} from './lib/report';
import { errorText, fmtMs, median, mustRun, nowMs, realtimeNs, shell, syncAll } from './lib/util';
import { killTree, makeFilesFixture, startWorkload, waitPidsFree, type Workload, type WorkloadSpec } from './lib/workloads';

// ---------------------------------------------------------------------------
// Options

interface Options {
  /** Timed runs per side, workload and operation; undefined: 7, and 5 for the 2 GiB workload. */
  runs?: number;
  quick: boolean;
  only?: Set<string>;
  sections: Set<string>;
  workDir: string;
  out: string;
  label: string;
  controlCalls: { check: number; get: number; list: number };
  concurrencyReps: number;
  ddReps: number;
}

const ALL_SECTIONS = ['ops', 'control', 'concurrency', 'dd', 'digest', 'proctree'];
const USAGE = `usage: npm run bench -- [--runs N] [--only w1,w2] [--sections ${ALL_SECTIONS.join(',')}]
                          [--quick] [--dir DIR] [--out FILE.json] [--label TEXT] [--tmpfs-run]
  --runs N       timed runs per side, workload and operation (default 7; 5 for mem-2g)
  --only LIST    workloads: sleep, mem-64m, mem-512m, mem-2g, tree-50, files-1000
  --sections     which parts to run (default all)
  --quick        smaller everything, for a smoke test (about a minute)
  --dir DIR      scratch directory for checkpoints, CLI images and dd (default /var/tmp/criu-agent-bench)
  --out FILE     results JSON (default bench/results/latest.json; a .md with the tables is written next to it)
  --tmpfs-run    (bench/run.sh) run everything in a private mount namespace with a tmpfs on /run`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    sections: new Set(ALL_SECTIONS),
    workDir: '/var/tmp/criu-agent-bench',
    out: path.join(packageRoot, 'bench', 'results', 'latest.json'),
    label: '',
    controlCalls: { check: 100, get: 1000, list: 300 },
    concurrencyReps: 3,
    ddReps: 3,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    switch (a) {
      case '--runs':
        o.runs = Number(next());
        if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs must be a positive integer');
        break;
      case '--only':
        o.only = new Set(next().split(','));
        break;
      case '--sections':
        o.sections = new Set(next().split(','));
        for (const s of o.sections) if (!ALL_SECTIONS.includes(s)) throw new Error(`unknown section ${s}\n${USAGE}`);
        break;
      case '--quick':
        o.quick = true;
        o.runs = 2;
        o.controlCalls = { check: 10, get: 100, list: 50 };
        o.concurrencyReps = 1;
        o.ddReps = 1;
        break;
      case '--dir':
        o.workDir = path.resolve(next());
        break;
      case '--out':
        o.out = path.resolve(next());
        break;
      case '--label':
        o.label = next();
        break;
      case '--tmpfs-run':
        o.label ||= 'tmpfs on /run (private mount namespace): CRIU keeps its kernel-feature cache /run/criu.kdat';
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${String(a)}\n${USAGE}`);
    }
  }
  return o;
}

function runsFor(o: Options, w: WorkloadSpec): number {
  if (o.runs !== undefined) return o.runs;
  return w.spec.kind === 'mem' && w.spec.mib >= 1024 ? 5 : 7;
}

function workloadsFor(o: Options): WorkloadSpec[] {
  const all: WorkloadSpec[] = o.quick
    ? [
        { name: 'sleep', description: 'one sleeping process (/bin/sleep)', spec: { kind: 'sleep' } },
        { name: 'mem-16m', description: '16 MiB', spec: { kind: 'mem', mib: 16 } },
        { name: 'mem-128m', description: '128 MiB', spec: { kind: 'mem', mib: 128 } },
        { name: 'tree-10', description: '10 processes', spec: { kind: 'tree', procs: 10 } },
        { name: 'files-100', description: '100 open files', spec: { kind: 'files', count: 100 } },
      ]
    : [
        { name: 'sleep', description: 'one sleeping process: /bin/sleep', spec: { kind: 'sleep' } },
        {
          name: 'mem-64m',
          description: 'python3 holding 64 MiB of anonymous memory filled with a 16-byte pattern',
          spec: { kind: 'mem', mib: 64 },
        },
        { name: 'mem-512m', description: 'the same with 512 MiB', spec: { kind: 'mem', mib: 512 } },
        { name: 'mem-2g', description: 'the same with 2 GiB', spec: { kind: 'mem', mib: 2048 } },
        { name: 'tree-50', description: 'a python3 root and 49 children exec()ing /bin/sleep', spec: { kind: 'tree', procs: 50 } },
        {
          name: 'files-1000',
          description: 'python3 holding 1000 distinct small files open read-only',
          spec: { kind: 'files', count: 1000 },
        },
      ];
  return o.only ? all.filter((w) => o.only?.has(w.name)) : all;
}

// ---------------------------------------------------------------------------
// State shared with the clean-up

const live = new Set<Workload>();
const agents: BenchAgent[] = [];
let criu = '/usr/local/sbin/criu';
const errors: { where: string; error: string }[] = [];

function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

async function started(w: WorkloadSpec, o: Options): Promise<Workload> {
  const wl = await startWorkload(w, path.join(o.workDir, 'scratch'), path.join(o.workDir, 'files'));
  live.add(wl);
  return wl;
}

async function kill(wl: Workload, extraPids: readonly number[] = []): Promise<void> {
  live.delete(wl);
  await killTree([...new Set([...wl.pids, ...extraPids])]);
}

function newId(w: string, tag: string): string {
  return `${w}-${tag}-${randomBytes(3).toString('hex')}`;
}

const num = (v: string | number | undefined | null): number | undefined => (v === undefined || v === null ? undefined : Number(v));
const usToMs = (v: string | number | undefined | null): number | undefined => {
  const n = num(v);
  return n === undefined ? undefined : n / 1000;
};

// ---------------------------------------------------------------------------
// Dump and restore, agent and CLI

/** One fresh workload: Dump (DEAD, then Restore; or RUNNING) through the agent. */
async function agentCycle(agent: BenchAgent, w: WorkloadSpec, dead: boolean, iter: number, o: Options): Promise<OpSample[]> {
  const out: OpSample[] = [];
  const wl = await started(w, o);
  const id = newId(w.name, dead ? 'a-dead' : 'a-run');
  let restored: number[] = [];
  let made = false;
  try {
    const syncMs = await syncAll();
    const t0 = realtimeNs();
    const a = nowMs();
    const res = await agent.dump(
      { pid: wl.pid, checkpoint_id: id, final_state: dead ? 'FINAL_STATE_DEAD' : 'FINAL_STATE_RUNNING' },
      600_000,
    );
    const wallMs = nowMs() - a;
    const t1 = realtimeNs();
    made = true;
    const dir = res.images_dir;
    out.push({
      workload: w.name,
      op: dead ? 'dump-dead' : 'dump-running',
      via: 'agent',
      iter,
      wallMs,
      frozenMs: usToMs(res.stats?.frozen_time_us),
      freezingMs: usToMs(res.stats?.freezing_time_us),
      memdumpMs: usToMs(res.stats?.memdump_time_us),
      memwriteMs: usToMs(res.stats?.memwrite_time_us),
      pagesWritten: num(res.stats?.pages_written),
      criuLogMs: await criuLogSpanMs(res.log_path),
      imageBytes: num(res.size_bytes),
      phases: await phasesOf(t0, t1, res.log_path, path.join(dir, 'stats-dump'), path.join(dir, 'checkpoint.json')),
      syncMs,
    });
    if (dead) {
      await waitPidsFree(wl.pids);
      const syncMs2 = await syncAll();
      const r0 = realtimeNs();
      const b = nowMs();
      const r = await agent.restore({ checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' }, 600_000);
      const restoreWall = nowMs() - b;
      const r1 = realtimeNs();
      restored = r.pids;
      if (r.pid !== wl.pid) throw new Error(`restored root pid ${r.pid}, expected ${wl.pid}`);
      out.push({
        workload: w.name,
        op: 'restore',
        via: 'agent',
        iter,
        wallMs: restoreWall,
        restoreTimeMs: usToMs(r.stats?.restore_time_us),
        forkingMs: usToMs(r.stats?.forking_time_us),
        criuLogMs: await criuLogSpanMs(r.log_path),
        imageBytes: num(res.size_bytes),
        phases: await phasesOf(r0, r1, r.log_path, path.join(dir, 'stats-restore')),
        syncMs: syncMs2,
      });
    }
  } finally {
    if (made) await agent.deleteCheckpoint(id).catch((e: unknown) => errors.push({ where: `delete ${id}`, error: errorText(e) }));
    await kill(wl, restored);
  }
  return out;
}

/** The same through `criu dump` / `criu restore` with the same options, images on the same file system. */
async function cliCycle(w: WorkloadSpec, dead: boolean, iter: number, o: Options): Promise<OpSample[]> {
  const out: OpSample[] = [];
  const wl = await started(w, o);
  const dir = path.join(o.workDir, 'cli', newId(w.name, dead ? 'c-dead' : 'c-run'));
  await fsp.mkdir(dir, { recursive: true });
  try {
    const syncMs = await syncAll();
    const t0 = realtimeNs();
    const d = await cliDump(criu, dir, wl.pid, !dead);
    const t1 = realtimeNs();
    if (d.code !== 0) throw new Error(`criu dump failed (${String(d.code)}): ${d.stderr.trim().slice(-500)}; log ${dir}/dump.log`);
    const stats = await readDumpStats(dir);
    const files = await fsp.readdir(dir);
    let bytes = 0;
    for (const f of files) if (f !== 'dump.log') bytes += (await fsp.stat(path.join(dir, f))).size;
    // What the agent adds after CRIU returned, on these very images (not in wallMs).
    const g = nowMs();
    await digestDirectory(dir, { exclude: ['dump.log'] });
    const digestMs = nowMs() - g;
    out.push({
      workload: w.name,
      op: dead ? 'dump-dead' : 'dump-running',
      via: 'cli',
      iter,
      wallMs: d.ms,
      frozenMs: stats && stats.frozenTimeUs / 1000,
      freezingMs: stats && stats.freezingTimeUs / 1000,
      memdumpMs: stats && stats.memdumpTimeUs / 1000,
      memwriteMs: stats && stats.memwriteTimeUs / 1000,
      pagesWritten: stats?.pagesWritten,
      criuLogMs: await criuLogSpanMs(path.join(dir, 'dump.log')),
      imageBytes: bytes,
      phases: await phasesOf(t0, t1, path.join(dir, 'dump.log'), path.join(dir, 'stats-dump')),
      digestMs,
      syncMs,
    });
    if (dead) {
      await waitPidsFree(wl.pids);
      const syncMs2 = await syncAll();
      const r0 = realtimeNs();
      const r = await cliRestore(criu, dir);
      const r1 = realtimeNs();
      if (r.code !== 0) throw new Error(`criu restore failed (${String(r.code)}): ${r.stderr.trim().slice(-500)}; log ${dir}/restore.log`);
      const rs = await readRestoreStats(dir);
      out.push({
        workload: w.name,
        op: 'restore',
        via: 'cli',
        iter,
        wallMs: r.ms,
        restoreTimeMs: rs && rs.restoreTimeUs / 1000,
        forkingMs: rs && rs.forkingTimeUs / 1000,
        criuLogMs: await criuLogSpanMs(path.join(dir, 'restore.log')),
        imageBytes: bytes,
        phases: await phasesOf(r0, r1, path.join(dir, 'restore.log'), path.join(dir, 'stats-restore')),
        syncMs: syncMs2,
      });
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
    await kill(wl);
  }
  return out;
}

async function cycle(via: Via, agent: BenchAgent, w: WorkloadSpec, dead: boolean, iter: number, o: Options): Promise<OpSample[]> {
  try {
    return via === 'agent' ? await agentCycle(agent, w, dead, iter, o) : await cliCycle(w, dead, iter, o);
  } catch (e) {
    const where = `${w.name} ${via} ${dead ? 'dump DEAD + restore' : 'dump RUNNING'} #${iter}`;
    errors.push({ where, error: `${statusName(e)}: ${errorText(e)}` });
    progress(`FAILED ${where}: ${errorText(e)}`);
    return [];
  }
}

async function opsSection(agent: BenchAgent, o: Options, samples: OpSample[]): Promise<void> {
  // Warm-up, not recorded: page cache of criu, python, the agent's JIT.
  const warm = workloadsFor({ ...o, only: undefined })[0];
  if (warm) for (const via of ['agent', 'cli'] as const) await cycle(via, agent, warm, true, -1, o);
  for (const w of workloadsFor(o)) {
    const t = nowMs();
    for (let i = 0; i < runsFor(o, w); i++) {
      // A B A B: the agent, then the CLI, each on a fresh tree.
      for (const via of ['agent', 'cli'] as const) samples.push(...(await cycle(via, agent, w, true, i, o)));
      for (const via of ['agent', 'cli'] as const) samples.push(...(await cycle(via, agent, w, false, i, o)));
    }
    const s = summarize(samples, [w.name]);
    progress(
      `${w.name}: ${s.map((r) => `${r.op} agent ${fmtMs(r.wall.agent)} / CLI ${fmtMs(r.wall.cli)} ms`).join('; ')} (${((nowMs() - t) / 1000).toFixed(0)} s)`,
    );
  }
}

// ---------------------------------------------------------------------------
// Control path

interface ControlTarget {
  server: 'agent' | 'gRPC floor';
  transport: 'unix' | 'tcp';
  getCheckpoint: (id: string) => Promise<unknown>;
  listCheckpoints: () => Promise<unknown>;
  check?: () => Promise<unknown>;
}

async function controlSection(targets: ControlTarget[], o: Options): Promise<LatencySample[]> {
  const out: LatencySample[] = [];
  /** Calls one at a time, rotating over the targets (A B C D A B C D ...). */
  const measure = async (method: string, n: number, fn: (t: ControlTarget) => Promise<unknown>, only: ControlTarget[]): Promise<void> => {
    for (const t of only) for (let i = 0; i < Math.min(50, n); i++) await fn(t); // warm-up
    const res = only.map((t) => ({ method, server: t.server, transport: t.transport, ms: [] as number[] }));
    for (let i = 0; i < n; i++) {
      for (const [k, t] of only.entries()) {
        const s = nowMs();
        await fn(t);
        res[k]?.ms.push(nowMs() - s);
      }
    }
    out.push(...res);
  };
  const unknown = async (t: ControlTarget): Promise<void> => {
    try {
      await t.getCheckpoint('bench-no-such-checkpoint');
      throw new Error('GetCheckpoint of an unknown id succeeded');
    } catch (e) {
      if (statusName(e) !== 'NOT_FOUND') throw e;
    }
  };
  await measure('GetCheckpoint, unknown id (NOT_FOUND; no CRIU)', o.controlCalls.get, unknown, targets);
  await measure('ListCheckpoints, empty store (no CRIU)', o.controlCalls.list, (t) => t.listCheckpoints(), targets);
  await measure(
    'Check (2 × criu swrk)',
    o.controlCalls.check,
    (t) => (t.check ? t.check() : Promise.resolve()),
    targets.filter((t) => t.check !== undefined),
  );
  return out;
}

function bind(a: BenchAgent | FloorServer): Pick<ControlTarget, 'getCheckpoint' | 'listCheckpoints' | 'check'> {
  return {
    getCheckpoint: (id) => a.getCheckpoint(id),
    listCheckpoints: () => a.listCheckpoints(),
    ...('check' in a ? { check: () => a.check() } : {}),
  };
}

// ---------------------------------------------------------------------------
// Concurrency

async function concurrencySection(byLimit: Map<number, BenchAgent>, o: Options): Promise<ConcurrencyTrial[]> {
  const w: WorkloadSpec = { name: 'mem-64m', description: '', spec: { kind: 'mem', mib: o.quick ? 16 : 64 } };
  const trials: ConcurrencyTrial[] = [];
  for (let rep = 0; rep < o.concurrencyReps; rep++) {
    for (const [limit, agent] of byLimit) {
      for (const mode of rep % 2 === 0 ? (['concurrent', 'sequential'] as const) : (['sequential', 'concurrent'] as const)) {
        const wls = await Promise.all([0, 1, 2, 3].map(() => started(w, o)));
        const ids = wls.map((_, k) => newId(w.name, `conc${limit}-${mode.slice(0, 3)}-${k}`));
        const done: string[] = [];
        try {
          await syncAll();
          const one = async (k: number): Promise<{ ms: number; frozen: number }> => {
            const s = nowMs();
            const wl = wls[k] as Workload;
            const r = await agent.dump({ pid: wl.pid, checkpoint_id: ids[k] }, 600_000);
            done.push(ids[k] as string);
            return { ms: nowMs() - s, frozen: usToMs(r.stats?.frozen_time_us) ?? NaN };
          };
          const t = nowMs();
          let per: { ms: number; frozen: number }[];
          if (mode === 'concurrent') per = await Promise.all([0, 1, 2, 3].map(one));
          else {
            per = [];
            for (const k of [0, 1, 2, 3]) per.push(await one(k));
          }
          trials.push({ limit, mode, rep, totalMs: nowMs() - t, dumpWallMs: per.map((p) => p.ms), frozenMs: per.map((p) => p.frozen) });
        } catch (e) {
          errors.push({ where: `concurrency limit ${limit} ${mode} #${rep}`, error: `${statusName(e)}: ${errorText(e)}` });
          progress(`FAILED concurrency ${limit} ${mode}: ${errorText(e)}`);
        } finally {
          for (const id of done) await agent.deleteCheckpoint(id).catch(() => undefined);
          for (const wl of wls) await kill(wl);
        }
      }
    }
  }
  return trials;
}

// ---------------------------------------------------------------------------
// dd

async function ddSection(o: Options): Promise<DdRun[]> {
  const file = path.join(o.workDir, 'dd.bin');
  const count = o.quick ? 256 : 2048;
  const out: DdRun[] = [];
  for (let rep = 0; rep < o.ddReps; rep++) {
    for (const fdatasync of [true, false]) {
      await syncAll();
      const r = await mustRun('/bin/dd', [
        'if=/dev/zero',
        `of=${file}`,
        'bs=1M',
        `count=${count}`,
        ...(fdatasync ? ['conv=fdatasync'] : []),
        'status=none',
      ]);
      out.push({ fdatasync, rep, ms: r.ms, bytes: count * 2 ** 20 });
      await fsp.rm(file, { force: true });
    }
  }
  await syncAll();
  return out;
}

// ---------------------------------------------------------------------------
// Machine

async function machine(o: Options): Promise<Record<string, unknown>> {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    hostKernel: os.release(),
    os: await shell('. /etc/os-release && echo "$PRETTY_NAME"'),
    cpu: `${cpus.length} × ${cpus[0]?.model ?? '?'}`,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    virtualization: (await shell('grep -c hypervisor /proc/cpuinfo')) !== '0' ? 'VM guest' : 'bare metal',
    pid1: await shell('cat /proc/1/comm'),
    node: process.version,
    criu: criu,
    criuVersion: await shell(`${criu} --version | head -1`),
    fileSystem: await shell(`findmnt -n -o SOURCE,FSTYPE,OPTIONS -T ${o.workDir}`),
    runIsTmpfs: (await shell('stat -f -c %T /run')) === 'tmpfs',
    gitCommit: await shell(`git -C ${packageRoot} rev-parse --short HEAD`),
    gitDirty: (await shell(`git -C ${packageRoot} status --porcelain --untracked-files=no | wc -l`)) !== '0',
  };
}

/** Samples the 1-minute load average every 5 s while the bench runs. */
function loadSampler(): { stop(): number[] } {
  const samples: number[] = [];
  const take = (): void => {
    void fsp.readFile('/proc/loadavg', 'utf8').then((t) => samples.push(Number(t.split(' ')[0])));
  };
  take();
  const timer = setInterval(take, 5000);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

async function busy(): Promise<{ loadavg: string; top: string }> {
  return {
    loadavg: (await fsp.readFile('/proc/loadavg', 'utf8')).trim(),
    top: await shell(`ps -eo pcpu,etimes,comm --sort=-pcpu | head -6`),
  };
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  criu = resolveCriu();
  const t0 = nowMs();
  await fsp.rm(o.workDir, { recursive: true, force: true });
  scratch = o.workDir;
  await fsp.mkdir(path.join(o.workDir, 'scratch'), { recursive: true });
  await fsp.mkdir(path.join(o.workDir, 'cli'), { recursive: true });
  const filesCount = workloadsFor(o).reduce((n, w) => (w.spec.kind === 'files' ? w.spec.count : n), o.quick ? 100 : 1000);
  await makeFilesFixture(path.join(o.workDir, 'files'), filesCount);

  const info = await machine(o);
  const before = await busy();
  const sampler = loadSampler();
  progress(`machine: ${String(info.cpu)}, ${String(info.memoryGiB)} GiB, ${String(info.fileSystem)}; load ${before.loadavg}`);
  if (!info.runIsTmpfs) progress('note: /run is not a tmpfs, so CRIU re-probes the kernel at every start (no /run/criu.kdat cache)');

  const common = ['--criu-path', criu, '--log-level', 'info'];
  const unix = await startBenchAgent({
    listen: `unix:${o.workDir}/agent.sock`,
    stateDir: path.join(o.workDir, 'agent-state'),
    args: common,
  });
  agents.push(unix);
  const tcp = await startBenchAgent({
    listen: '127.0.0.1:0',
    stateDir: path.join(o.workDir, 'agent-tcp-state'),
    args: [...common, '--max-concurrent-operations', '4'],
  });
  agents.push(tcp);
  const chk = await unix.check();
  info.criuCheck = chk;
  progress(`agents: ${unix.address} (default --max-concurrent-operations 2), ${tcp.address} (--max-concurrent-operations 4)`);

  const samples: OpSample[] = [];
  let latencies: LatencySample[] = [];
  let concurrency: ConcurrencyTrial[] = [];
  let dd: DdRun[] = [];
  let digest: DigestProbeResult | undefined;
  let proctree: ProctreeProbeResult | undefined;
  const sectionMs: Record<string, number> = {};
  const timed = async (name: string, f: () => Promise<void>): Promise<void> => {
    if (!o.sections.has(name)) return;
    const s = nowMs();
    progress(`section ${name}`);
    await f();
    sectionMs[name] = nowMs() - s;
  };
  await timed('ops', () => opsSection(unix, o, samples));
  await timed('control', async () => {
    const floors = [await startFloorServer(`unix:${o.workDir}/floor.sock`), await startFloorServer('127.0.0.1:0')];
    try {
      latencies = await controlSection(
        [
          { server: 'agent', transport: 'unix', ...bind(unix) },
          { server: 'agent', transport: 'tcp', ...bind(tcp) },
          { server: 'gRPC floor', transport: 'unix', ...bind(floors[0] as FloorServer) },
          { server: 'gRPC floor', transport: 'tcp', ...bind(floors[1] as FloorServer) },
        ],
        o,
      );
    } finally {
      for (const f of floors) await f.stop();
    }
  });
  await timed('concurrency', async () => {
    concurrency = await concurrencySection(
      new Map([
        [2, unix],
        [4, tcp],
      ]),
      o,
    );
  });
  await timed('dd', async () => {
    dd = await ddSection(o);
  });
  await timed('digest', async () => {
    digest = await digestProbe(o.workDir, o.quick ? 256 : 2048, 300, o.quick ? 1 : 5);
    await syncAll();
  });
  await timed('proctree', async () => {
    const wl = await started({ name: 'tree', description: '', spec: { kind: 'tree', procs: o.quick ? 10 : 50 } }, o);
    try {
      proctree = await proctreeProbe(wl, o.quick ? 3 : 15);
    } finally {
      await kill(wl);
    }
  });
  const after = await busy();
  const loadSamples = sampler.stop();

  // ------------------------------------------------------------------ report
  const wnames = workloadsFor(o).map((w) => w.name);
  const ops = summarize(samples, wnames);
  const big = [...wnames].reverse().find((n) => n.startsWith('mem-'));
  const bigDumps = samples.filter((s) => s.workload === big && s.op !== 'restore');
  const mbps = (via: Via, f: (s: OpSample) => number | undefined): number =>
    median(
      bigDumps
        .filter((s) => s.via === via)
        .map((s) => f(s))
        .filter((x): x is number => x !== undefined && Number.isFinite(x)),
    );
  const ddRate = (sync: boolean): number => median(dd.filter((d) => d.fdatasync === sync).map((d) => d.bytes / 1e6 / (d.ms / 1000)));
  const throughput: ThroughputSummary = {
    agentMemwriteMBps: mbps('agent', (s) =>
      s.pagesWritten !== undefined && s.memwriteMs ? (s.pagesWritten * 4096) / 1e6 / (s.memwriteMs / 1000) : undefined,
    ),
    cliMemwriteMBps: mbps('cli', (s) =>
      s.pagesWritten !== undefined && s.memwriteMs ? (s.pagesWritten * 4096) / 1e6 / (s.memwriteMs / 1000) : undefined,
    ),
    agentCriuMBps: mbps('agent', (s) =>
      s.imageBytes !== undefined && s.criuLogMs ? s.imageBytes / 1e6 / (s.criuLogMs / 1000) : undefined,
    ),
    cliCriuMBps: mbps('cli', (s) => (s.imageBytes !== undefined && s.criuLogMs ? s.imageBytes / 1e6 / (s.criuLogMs / 1000) : undefined)),
    ddFdatasyncMBps: ddRate(true),
    ddPageCacheMBps: ddRate(false),
  };
  const totalS = (nowMs() - t0) / 1000;
  const md = renderMarkdown(o, info, ops, latencies, concurrency, throughput, digest, proctree, big, errors, totalS, loadSamples);
  process.stdout.write(md + '\n');

  await fsp.mkdir(path.dirname(o.out), { recursive: true });
  const json = {
    label: o.label,
    options: { ...o, only: o.only ? [...o.only] : undefined, sections: [...o.sections] },
    machine: info,
    load: { before, after, samples1min: loadSamples },
    totalSeconds: totalS,
    sectionSeconds: Object.fromEntries(Object.entries(sectionMs).map(([k, v]) => [k, +(v / 1000).toFixed(1)])),
    summary: { ops, throughput, latency: latencies.map((l) => ({ ...l, ms: undefined, n: l.ms.length })) },
    samples,
    latencies,
    concurrency,
    dd,
    digest,
    proctree,
    errors,
  };
  // Times to the µs: enough, and the file stays small.
  const round = (_k: string, v: unknown): unknown => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v);
  const text = JSON.stringify(json, round, 1) + '\n';
  await fsp.writeFile(o.out, text);
  await fsp.writeFile(o.out.replace(/\.json$/, '') + '.md', md + '\n');
  // The chart of the Dump/Restore rows (bench/lib/chart.ts), drawn from the JSON as written so that
  // `npm run bench:chart -- FILE.json` redraws the very same SVG without running the bench again.
  if (ops.length) await fsp.writeFile(o.out.replace(/\.json$/, '') + '.svg', renderChart(JSON.parse(text) as ChartInput));
  progress(`wrote ${o.out} (${totalS.toFixed(0)} s in all)`);
}

function checkText(c: unknown): string {
  const r = c as { mem_track?: boolean; lazy_pages?: boolean; pidfd_store?: boolean } | undefined;
  if (!r) return '?';
  return `mem_track ${String(r.mem_track)}, lazy_pages ${String(r.lazy_pages)}, pidfd_store ${String(r.pidfd_store)}`;
}

function renderMarkdown(
  o: Options,
  info: Record<string, unknown>,
  ops: OpSummary[],
  lat: LatencySample[],
  conc: ConcurrencyTrial[],
  tp: ThroughputSummary,
  dg: DigestProbeResult | undefined,
  pt: ProctreeProbeResult | undefined,
  big: string | undefined,
  errs: typeof errors,
  totalS: number,
  load: number[],
): string {
  const parts: string[] = [];
  parts.push(`## criu-agent bench ${String(info.date).slice(0, 16).replace('T', ' ')}${o.label ? ` — ${o.label}` : ''}`);
  parts.push(
    `${String(info.os)}, kernel ${String(info.hostKernel)}, ${String(info.cpu)}, ${String(info.memoryGiB)} GiB, ${String(info.virtualization)} (PID 1: ${String(info.pid1)}); ` +
      `${String(info.criuVersion)} (${String(info.criu)}); node ${String(info.node)}; images on ${String(info.fileSystem)}; ` +
      `/run ${info.runIsTmpfs ? 'is' : 'is not'} a tmpfs; CRIU features (Check): ${checkText(info.criuCheck)}; commit ${String(info.gitCommit)}${info.gitDirty ? ' (+ uncommitted changes)' : ''}. ` +
      `${o.runs ?? '7 (5 for 2 GiB)'} timed runs per side and operation, interleaved agent/CLI; 1-minute load average during the run ${load.length ? `${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} (median ${median(load).toFixed(1)})` : '?'} on ${os.cpus().length} CPUs; ${totalS.toFixed(0)} s in all.`,
  );
  if (ops.length) {
    parts.push('### Dump and Restore: agent (gRPC, unix socket) vs criu CLI, medians', opsTable(ops));
    parts.push('### Where the time goes (medians, ms)', phasesTable(ops));
  }
  if (lat.length) parts.push('### Control path (sequential calls)', latencyTable(lat));
  if (conc.length)
    parts.push(`### 4 dumps of distinct ${o.quick ? '16' : '64'} MiB trees: at once vs one after another`, concurrencyTable(conc));
  if (tp.ddFdatasyncMBps !== undefined && Number.isFinite(tp.ddFdatasyncMBps)) {
    parts.push(`### Write throughput (${big ?? '?'} dumps vs dd to the same file system)`, throughputTable(tp));
  }
  if (dg) parts.push("### The agent's XXH64 digests: costs and prototyped changes", digestTable(dg));
  if (pt) parts.push(`### The agent's /proc walks on a ${pt.procs}-process tree`, proctreeTable(pt));
  const checks: string[] = [];
  for (const r of ops) {
    if (r.op === 'restore') continue;
    checks.push(
      `- ${r.workload} ${r.op}: agent/CLI wall ${r.wall.ratio.toFixed(2)} → ${r.wall.ratio <= 1.05 ? 'within 5%' : 'MISSED (>5%)'}`,
    );
  }
  for (const r of ops.filter((x) => x.op === 'restore')) {
    checks.push(
      `- ${r.workload} restore: agent/CLI wall ${r.wall.ratio.toFixed(2)} → ${r.wall.ratio <= 1.05 ? 'within 5%' : 'MISSED (>5%)'}`,
    );
  }
  const cheap = lat.find((l) => l.server === 'agent' && l.transport === 'unix' && l.method.startsWith('GetCheckpoint'));
  if (cheap) {
    const p50 = median(cheap.ms);
    checks.push(`- control path p50 on the unix socket (GetCheckpoint): ${fmtMs(p50)} ms → ${p50 < 1 ? 'under 1 ms' : 'MISSED (≥ 1 ms)'}`);
  }
  if (checks.length) parts.push('### Targets (reported, not asserted)', checks.join('\n'));
  if (errs.length) parts.push('### Errors', errs.map((e) => `- ${e.where}: ${e.error}`).join('\n'));
  return parts.join('\n\n');
}

// ---------------------------------------------------------------------------

let scratch: string | undefined;

async function cleanup(): Promise<void> {
  for (const wl of [...live]) await kill(wl).catch(() => undefined);
  for (const a of agents.splice(0)) await a.stop().catch(() => undefined);
  if (scratch) await fsp.rm(scratch, { recursive: true, force: true }).catch(() => undefined);
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    progress(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
