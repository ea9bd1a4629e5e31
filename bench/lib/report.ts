import type { Phases } from './criu';
import type { DigestProbeResult } from './digestProbe';
import type { ProctreeProbeResult } from './proctreeProbe';
import { fmtMs, fmtRatio, median, quantile } from './util';

export type Via = 'agent' | 'cli';
export type Op = 'dump-dead' | 'dump-running' | 'restore';

/** One timed dump or restore. Times in ms. */
export interface OpSample {
  workload: string;
  op: Op;
  via: Via;
  iter: number;
  wallMs: number;
  /** CRIU's stats-dump: frozen, freezing, memdump, memwrite times; pages written. */
  frozenMs?: number;
  freezingMs?: number;
  memdumpMs?: number;
  memwriteMs?: number;
  pagesWritten?: number;
  /** CRIU's stats-restore. */
  restoreTimeMs?: number;
  forkingMs?: number;
  /** Last timestamp of CRIU's log. */
  criuLogMs?: number;
  /** Bytes of the checkpoint's files. */
  imageBytes?: number;
  phases?: Phases;
  /** CLI dumps only: what the agent's XXH64 digest of the same images costs (digestDirectory, timed apart). */
  digestMs?: number;
  /** The sync before the run (not in wallMs). */
  syncMs: number;
}

export interface LatencySample {
  method: string;
  server: 'agent' | 'gRPC floor';
  transport: 'unix' | 'tcp';
  ms: number[];
}

export interface ConcurrencyTrial {
  limit: number;
  mode: 'concurrent' | 'sequential';
  rep: number;
  totalMs: number;
  dumpWallMs: number[];
  frozenMs: number[];
}

export interface DdRun {
  fdatasync: boolean;
  rep: number;
  ms: number;
  bytes: number;
}

export interface OpSummary {
  workload: string;
  op: Op;
  n: { agent: number; cli: number };
  wall: { agent: number; cli: number; ratio: number };
  /** Dumps: frozen time; restores: CRIU's restore_time. */
  criuStat: { agent: number; cli: number; ratio: number };
  criuLog: { agent: number; cli: number };
  /** Median of (wall − CRIU's log span): everything but CRIU's own run. */
  outside: { agent: number; cli: number };
  phases?: { agent?: Phases; cli?: Phases };
  digestMs?: number;
  imageMiB?: number;
  spread: { agent: [number, number]; cli: [number, number] };
}

function pick(samples: OpSample[], via: Via): OpSample[] {
  return samples.filter((s) => s.via === via);
}

function med(samples: OpSample[], f: (s: OpSample) => number | undefined): number {
  return median(samples.map(f).filter((x): x is number => x !== undefined));
}

function outsideCriu(s: OpSample): number | undefined {
  return s.criuLogMs === undefined ? undefined : s.wallMs - s.criuLogMs;
}

function medPhases(samples: OpSample[]): Phases | undefined {
  const ps = samples.map((s) => s.phases).filter((p): p is Phases => p !== undefined);
  if (!ps.length) return undefined;
  const d = ps.map((p) => p.digestMs).filter((x): x is number => x !== undefined);
  return {
    startMs: median(ps.map((p) => p.startMs)),
    criuMs: median(ps.map((p) => p.criuMs)),
    ...(d.length ? { digestMs: median(d) } : {}),
    finishMs: median(ps.map((p) => p.finishMs)),
  };
}

export function summarize(samples: OpSample[], workloads: string[]): OpSummary[] {
  const out: OpSummary[] = [];
  for (const workload of workloads) {
    for (const op of ['dump-dead', 'dump-running', 'restore'] as const) {
      const all = samples.filter((s) => s.workload === workload && s.op === op);
      if (!all.length) continue;
      const a = pick(all, 'agent');
      const c = pick(all, 'cli');
      const stat = (s: OpSample): number | undefined => (op === 'restore' ? s.restoreTimeMs : s.frozenMs);
      const wa = med(a, (s) => s.wallMs);
      const wc = med(c, (s) => s.wallMs);
      const sa = med(a, stat);
      const sc = med(c, stat);
      const bytes = med(all, (s) => s.imageBytes);
      const digest = med(c, (s) => s.digestMs);
      out.push({
        workload,
        op,
        n: { agent: a.length, cli: c.length },
        wall: { agent: wa, cli: wc, ratio: wa / wc },
        criuStat: { agent: sa, cli: sc, ratio: sa / sc },
        criuLog: { agent: med(a, (s) => s.criuLogMs), cli: med(c, (s) => s.criuLogMs) },
        outside: { agent: med(a, outsideCriu), cli: med(c, outsideCriu) },
        phases: { agent: medPhases(a), cli: medPhases(c) },
        ...(Number.isFinite(digest) ? { digestMs: digest } : {}),
        ...(Number.isFinite(bytes) ? { imageMiB: bytes / 2 ** 20 } : {}),
        spread: {
          agent: [
            quantile(
              a.map((s) => s.wallMs),
              0,
            ),
            quantile(
              a.map((s) => s.wallMs),
              1,
            ),
          ],
          cli: [
            quantile(
              c.map((s) => s.wallMs),
              0,
            ),
            quantile(
              c.map((s) => s.wallMs),
              1,
            ),
          ],
        },
      });
    }
  }
  return out;
}

const OP_NAME: Record<Op, string> = { 'dump-dead': 'Dump DEAD', 'dump-running': 'Dump RUNNING', restore: 'Restore' };

export function opsTable(rows: OpSummary[]): string {
  const lines = [
    '| workload | operation | n (agent/CLI) | agent wall ms | CLI wall ms | agent/CLI wall | agent frozen ms¹ | CLI frozen ms¹ | agent/CLI frozen | images MiB |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.workload} | ${OP_NAME[r.op]} | ${r.n.agent}/${r.n.cli} | ${fmtMs(r.wall.agent)} | ${fmtMs(r.wall.cli)} | ${fmtRatio(r.wall.ratio)} | ` +
        `${fmtMs(r.criuStat.agent)} | ${fmtMs(r.criuStat.cli)} | ${fmtRatio(r.criuStat.ratio)} | ${r.imageMiB === undefined ? '–' : r.imageMiB.toFixed(1)} |`,
    );
  }
  lines.push('', "¹ Dumps: CRIU's frozen_time (stats-dump). Restores: CRIU's restore_time (stats-restore).");
  return lines.join('\n');
}

export function phasesTable(rows: OpSummary[]): string {
  const lines = [
    '| workload | operation | agent: outside CRIU¹ | CLI: outside CRIU¹ | agent: start | agent: CRIU | agent: digest+manifest | agent: finish | CLI: start | CLI: CRIU | CLI: exit | XXH64 of the images² |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const a = r.phases?.agent;
    const c = r.phases?.cli;
    lines.push(
      `| ${r.workload} | ${OP_NAME[r.op]} | ${fmtMs(r.outside.agent)} | ${fmtMs(r.outside.cli)} | ${fmtMs(a?.startMs ?? NaN)} | ${fmtMs(a?.criuMs ?? NaN)} | ${fmtMs(a?.digestMs ?? NaN)} | ${fmtMs(a?.finishMs ?? NaN)} | ` +
        `${fmtMs(c?.startMs ?? NaN)} | ${fmtMs(c?.criuMs ?? NaN)} | ${fmtMs(c?.finishMs ?? NaN)} | ${fmtMs(r.digestMs ?? NaN)} |`,
    );
  }
  lines.push(
    '',
    "¹ Wall time minus the span of CRIU's own log (µs stamps): what each side adds around CRIU's work (the CLI: exec and exit).",
    'The other phases are medians in ms, from file timestamps (coarse clock, ±4 ms, so small values can even come out negative). ' +
      'start: call issued → CRIU opened its log; CRIU: log opened → stats written; ' +
      'digest+manifest: stats written → checkpoint.json written; finish: → reply (agent) or exit (CLI).',
    "² digestDirectory (the agent's own code) timed on the CLI's images right after each CLI dump, outside the CLI's time.",
  );
  return lines.join('\n');
}

export function latencyTable(samples: LatencySample[]): string {
  const lines = ['| call | server | transport | n | p50 ms | p99 ms | mean ms |', '| --- | --- | --- | ---: | ---: | ---: | ---: |'];
  for (const s of samples) {
    const mean = s.ms.reduce((a, b) => a + b, 0) / s.ms.length;
    lines.push(
      `| ${s.method} | ${s.server} | ${s.transport} | ${s.ms.length} | ${fmtMs(quantile(s.ms, 0.5))} | ${fmtMs(quantile(s.ms, 0.99))} | ${fmtMs(mean)} |`,
    );
  }
  lines.push(
    '',
    'gRPC floor: a grpc-js server (bench/lib/floorServer.ts, its own process) serving the same service with handlers that answer at once. ' +
      "The difference to the agent is the agent's own handling: id validation, a stat of the store, the error mapping, one log line.",
  );
  return lines.join('\n');
}

export function concurrencyTable(trials: ConcurrencyTrial[]): string {
  const lines = [
    '| --max-concurrent-operations | 4 dumps | n | total ms (median) | per-dump wall ms (median) | per-dump frozen ms (median) | concurrent/sequential total |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const limit of [...new Set(trials.map((t) => t.limit))]) {
    const seqTotal = median(trials.filter((t) => t.limit === limit && t.mode === 'sequential').map((t) => t.totalMs));
    for (const mode of ['concurrent', 'sequential'] as const) {
      const ts = trials.filter((t) => t.limit === limit && t.mode === mode);
      if (!ts.length) continue;
      const total = median(ts.map((t) => t.totalMs));
      lines.push(
        `| ${limit} | ${mode} | ${ts.length} | ${fmtMs(total)} | ${fmtMs(median(ts.flatMap((t) => t.dumpWallMs)))} | ` +
          `${fmtMs(median(ts.flatMap((t) => t.frozenMs)))} | ${mode === 'concurrent' ? fmtRatio(total / seqTotal) : '1.00'} |`,
      );
    }
  }
  return lines.join('\n');
}

export interface ThroughputSummary {
  agentMemwriteMBps?: number;
  cliMemwriteMBps?: number;
  agentCriuMBps?: number;
  cliCriuMBps?: number;
  ddFdatasyncMBps?: number;
  ddPageCacheMBps?: number;
}

export function throughputTable(t: ThroughputSummary): string {
  const f = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(0));
  return [
    '| what | MB/s (10^6 B/s, median) |',
    '| --- | ---: |',
    `| agent Dump of 2 GiB: pages written / memwrite_time | ${f(t.agentMemwriteMBps)} |`,
    `| CLI dump of 2 GiB: pages written / memwrite_time | ${f(t.cliMemwriteMBps)} |`,
    `| agent Dump of 2 GiB: image bytes / CRIU's whole run (log span) | ${f(t.agentCriuMBps)} |`,
    `| CLI dump of 2 GiB: image bytes / CRIU's whole run (log span) | ${f(t.cliCriuMBps)} |`,
    `| dd bs=1M count=2048 conv=fdatasync (disk) | ${f(t.ddFdatasyncMBps)} |`,
    `| dd bs=1M count=2048, no fdatasync (page cache) | ${f(t.ddPageCacheMBps)} |`,
  ].join('\n');
}

export function digestTable(d: DigestProbeResult): string {
  const rate = (ms: number, mib: number): string => `${((mib * 2 ** 20) / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
  return [
    '| what | ms (median) | rate |',
    '| --- | ---: | ---: |',
    `| digestDirectory (src/store/digest.ts) of one ${d.bigFileMiB} MiB image in the page cache | ${fmtMs(d.agentBig)} | ${rate(d.agentBig, d.bigFileMiB)} |`,
    `| … reading it only (4 MiB reads) | ${fmtMs(d.readOnlyBig)} | ${rate(d.readOnlyBig, d.bigFileMiB)} |`,
    `| … XXH64 only (in memory) | ${fmtMs(d.hashOnlyBig)} | ${rate(d.hashOnlyBig, d.bigFileMiB)} |`,
    `| prototype: read the next chunk while hashing this one (same digest) | ${fmtMs(d.doubleBufferedBig)} | ${rate(d.doubleBufferedBig, d.bigFileMiB)} |`,
    `| prototype: the same reads, hashed with XXH3-64 (@node-rs/xxhash xxh3.Xxh3) | ${fmtMs(d.xxh3Big)} | ${rate(d.xxh3Big, d.bigFileMiB)} |`,
    `| … XXH3-64 only (in memory) | ${fmtMs(d.xxh3OnlyBig)} | ${rate(d.xxh3OnlyBig, d.bigFileMiB)} |`,
    `| prototype: both (XXH3-64, next chunk read while hashing) | ${fmtMs(d.xxh3DoubleBufferedBig)} | ${rate(d.xxh3DoubleBufferedBig, d.bigFileMiB)} |`,
    `| digestDirectory of ${d.smallFiles} small images (${(d.smallFileBytes / 1024).toFixed(0)} KiB in all) | ${fmtMs(d.agentSmall)} | – |`,
    `| prototype: the same read and hashed synchronously (readFileSync) | ${fmtMs(d.syncSmall)} | – |`,
  ].join('\n');
}

export function proctreeTable(p: ProctreeProbeResult): string {
  return [
    '| what (src/) | async, as in src/: ms (median) | the same reads synchronously: ms (median) |',
    '| --- | ---: | ---: |',
    `| guardTarget (before the locks) | ${fmtMs(p.guardTarget)} | – |`,
    `| snapshotTree (before CRIU; again after it, polling, for RUNNING) | ${fmtMs(p.snapshotTree)} | ${fmtMs(p.syncSnapshot)} |`,
    `| estimateMemoryBytes (smaps_rollup of every process, one after another) | ${fmtMs(p.estimateMemoryBytes)} | ${fmtMs(p.syncEstimate)} |`,
  ].join('\n');
}
