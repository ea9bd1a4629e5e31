/**
 * The agent's resources over a soak: RSS and open descriptors from /proc,
 * heap and event-loop delay from its Prometheus metrics. Sampled when no
 * call is in flight (the checker's quiet points), so that descriptors of
 * calls under way do not blur a leak; judged per agent process (a restart
 * starts a new series) after a warm-up.
 */
import type { SoakAgent } from './agent';
import { fdCount, rssBytes } from './procs';

export interface ResourceSample {
  /** Seconds since the soak started. */
  t: number;
  incarnation: number;
  rssBytes: number;
  fds: number;
  heapUsedBytes: number;
  eventLoopP99Ms: number;
}

export interface SeriesFigure {
  start: number;
  end: number;
  /** Least-squares slope per minute over the samples after warm-up. */
  slopePerMin: number;
}

export interface IncarnationFigures {
  incarnation: number;
  samples: number;
  fromSec: number;
  toSec: number;
  warmupSec: number;
  /** Whether there were enough samples after warm-up to judge (3 or more). */
  judged: boolean;
  rssMiB?: SeriesFigure;
  heapMiB?: SeriesFigure;
  fds?: SeriesFigure;
  eventLoopP99Ms?: SeriesFigure;
  /** What grew beyond noise; empty when flat. */
  growth: string[];
}

/** Growth beyond these is a leak (see README.md). */
export const LIMITS = {
  rssRatio: 1.2,
  heapRatio: 1.3,
  heapMinGrowthMiB: 4,
  lagRatio: 4,
  lagMinGrowthMs: 100,
};

export async function sample(agent: SoakAgent, t: number): Promise<ResourceSample | null> {
  if (!agent.running()) return null;
  const pid = agent.pid;
  const [rss, fds] = [await rssBytes(pid), await fdCount(pid)];
  const m = await agent.scrape();
  if (!m || !Number.isFinite(rss) || !Number.isFinite(fds)) return null;
  return { t, incarnation: agent.incarnation, rssBytes: rss, fds, heapUsedBytes: m.heapUsedBytes, eventLoopP99Ms: m.eventLoopP99Ms };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function slope(ts: number[], ys: number[]): number {
  const n = ts.length;
  const mt = ts.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((ts[i] as number) - mt) * ((ys[i] as number) - my);
    den += ((ts[i] as number) - mt) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

type Aggregate = 'median' | 'min' | 'median-then-min';
const min = (xs: number[]): number => Math.min(...xs);

/**
 * Start and end are medians of the first and last two samples after
 * warm-up; for descriptors, minima (a descriptor of a call just ending may
 * linger one sample; one that stays at every quiet point is a leak).
 * 'median-then-min' takes the start's median and the end's minimum.
 */
function figure(ts: number[], ys: number[], how: Aggregate = 'median', window = 2): SeriesFigure {
  const k = Math.min(window, Math.floor(ys.length / 2)) || 1;
  const first = how === 'min' ? min : median;
  const last = how === 'median' ? median : min;
  return { start: round(first(ys.slice(0, k))), end: round(last(ys.slice(-k))), slopePerMin: round(slope(ts, ys), 3) };
}

export function judge(samples: readonly ResourceSample[]): IncarnationFigures[] {
  const by = new Map<number, ResourceSample[]>();
  for (const s of samples) {
    const list = by.get(s.incarnation);
    if (list) list.push(s);
    else by.set(s.incarnation, [s]);
  }
  const out: IncarnationFigures[] = [];
  for (const [incarnation, list] of by) {
    const from = list[0]?.t ?? 0;
    const to = list[list.length - 1]?.t ?? 0;
    // Node's heap and JIT settle in the first tens of seconds of load.
    const warmupSec = Math.min(60, Math.max(15, (to - from) * 0.2));
    const after = list.filter((s) => s.t >= from + warmupSec);
    const fig: IncarnationFigures = {
      incarnation,
      samples: list.length,
      fromSec: round(from, 1),
      toSec: round(to, 1),
      warmupSec: round(warmupSec, 1),
      judged: after.length >= 3,
      growth: [],
    };
    if (after.length >= 2) {
      const ts = after.map((s) => s.t);
      // Heap in use is a sawtooth between collections (a sample can land
      // just before a major GC), and RSS follows it with the transfer
      // buffers an export or import holds (measured: 400 export/import
      // cycles swing RSS 128-155 MiB with a flat heap); a leak raises the
      // floor of both. So their ends are the minima of the last third of
      // the samples. The heap's start is the first third's minimum too.
      // RSS also dips: a sample 25-30 MiB below its neighbours, heap flat,
      // once or twice in a 5-minute agent process (30-minute soak, seed 30:
      // 156, 131, 156, 159 MiB), and a dip at the start made an ordinary
      // 159 MiB at the end look like +22%. Leaked memory cannot dip, so the
      // end keeps its minimum while the start is the first third's median:
      // growth means even the end's lowest sample is above the start's
      // usual level.
      const third = Math.max(2, Math.floor(after.length / 3));
      fig.rssMiB = figure(
        ts,
        after.map((s) => s.rssBytes / 2 ** 20),
        'median-then-min',
        third,
      );
      fig.heapMiB = figure(
        ts,
        after.map((s) => s.heapUsedBytes / 2 ** 20),
        'min',
        third,
      );
      fig.fds = figure(
        ts,
        after.map((s) => s.fds),
        'min',
      );
      fig.eventLoopP99Ms = figure(
        ts,
        after.map((s) => s.eventLoopP99Ms),
      );
    }
    if (fig.judged && fig.rssMiB && fig.heapMiB && fig.fds && fig.eventLoopP99Ms) {
      const { rssMiB, heapMiB, fds, eventLoopP99Ms: lag } = fig;
      if (rssMiB.end > rssMiB.start * LIMITS.rssRatio)
        fig.growth.push(`RSS ${rssMiB.start} -> ${rssMiB.end} MiB (over +${Math.round((LIMITS.rssRatio - 1) * 100)}%)`);
      if (heapMiB.end > heapMiB.start * LIMITS.heapRatio && heapMiB.end - heapMiB.start > LIMITS.heapMinGrowthMiB) {
        fig.growth.push(`heap ${heapMiB.start} -> ${heapMiB.end} MiB`);
      }
      if (fds.end > fds.start) fig.growth.push(`open descriptors ${fds.start} -> ${fds.end} at quiet points`);
      if (lag.end > Math.max(lag.start * LIMITS.lagRatio, lag.start + LIMITS.lagMinGrowthMs))
        fig.growth.push(`event-loop delay p99 ${lag.start} -> ${lag.end} ms`);
    }
    out.push(fig);
  }
  return out;
}
