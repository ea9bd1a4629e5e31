import type { Phases } from './criu';
import { fmtMs } from './util';

/**
 * The SVG chart of a bench run (issue #15): per workload and operation, the
 * agent/CLI wall-time ratio against the 1.00x target, and where each side's
 * time goes (before CRIU, CRIU, after CRIU) as stacked bars.
 *
 * Hand-written on purpose: a chart library would be the heaviest dependency
 * of the repository for one static picture, and a pure function from the
 * results JSON to a string is easy to test and to rerun on old results
 * (`npm run bench:chart -- FILE.json`).
 */

/** The part of a results JSON (bench/main.ts) the chart reads; older files may lack `phases`. */
export interface ChartInput {
  label?: string;
  /** Free-form in the JSON (bench/main.ts `machine()`); only strings are shown. */
  machine?: { date?: unknown; cpu?: unknown; hostKernel?: unknown };
  summary: {
    ops: Array<{
      workload: string;
      /** An Op of bench/lib/report.ts; unknown ones are shown as they are. */
      op: string;
      wall: { agent: number; cli: number; ratio: number };
      phases?: { agent?: Phases; cli?: Phases };
    }>;
  };
}

const OP_NAME: Record<string, string> = { 'dump-dead': 'Dump DEAD', 'dump-running': 'Dump RUNNING', restore: 'Restore' };

/** Segments of a stacked bar, in drawing order; `agentOnly` ones the CLI has no counterpart for. */
const SEGMENTS = [
  { key: 'before', name: 'before CRIU (call → CRIU log opened)', color: '#e8a33d' },
  { key: 'criu', name: 'CRIU (log opened → stats written)', color: '#4c78a8' },
  { key: 'digest', name: 'agent: digest + manifest', color: '#b279a2' },
  { key: 'after', name: 'after CRIU (→ reply / exit)', color: '#9d755d' },
] as const;
type SegmentKey = (typeof SEGMENTS)[number]['key'];

/** Escapes text for SVG content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** Numbers in attributes: short, and never `NaN` (which would make the SVG invalid). */
function n(x: number): string {
  return Number.isFinite(x) ? String(Math.round(x * 10) / 10) : '0';
}

/**
 * Phase times as non-negative segment lengths. The phases come from file
 * timestamps on the kernel's coarse clock (±4 ms), so a small one can come out
 * negative; it is drawn as zero.
 */
function segments(p: Phases): Record<SegmentKey, number> {
  const pos = (x: number | undefined): number => (x !== undefined && Number.isFinite(x) && x > 0 ? x : 0);
  return { before: pos(p.startMs), criu: pos(p.criuMs), digest: pos(p.digestMs), after: pos(p.finishMs) };
}

// Layout, in px.
const W = 1000;
const LABEL_W = 190;
const RATIO_X = LABEL_W + 10;
const RATIO_W = 250;
const SPLIT_X = RATIO_X + RATIO_W + 40;
const SPLIT_W = W - SPLIT_X - 70;
const ROW_H = 34;
const TOP = 78;

/** Renders the chart; a pure function of the results JSON. */
export function renderChart(results: ChartInput): string {
  const rows = results.summary.ops;
  const legendH = 84;
  const H = TOP + Math.max(rows.length, 1) * ROW_H + 30 + legendH;
  const out: string[] = [];
  const title = `criu-agent bench: agent (gRPC) vs criu CLI${results.label ? ` (${results.label})` : ''}`;
  const str = (x: unknown): string | undefined => (typeof x === 'string' && x ? x : undefined);
  const m = results.machine;
  const kernel = str(m?.hostKernel);
  const sub = [str(m?.date)?.slice(0, 16).replace('T', ' '), str(m?.cpu), kernel && `kernel ${kernel}`].filter(Boolean).join(', ');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="10" y="38" fill="#555">${escapeXml(sub ? `${sub}; medians` : 'medians')}</text>`,
    `<text x="${RATIO_X}" y="${TOP - 16}" font-weight="bold">agent/CLI wall time (target ≤ 1.00x)</text>`,
    `<text x="${SPLIT_X}" y="${TOP - 16}" font-weight="bold">time split, ms (upper bar: agent, lower: CLI)</text>`,
  );
  if (!rows.length) {
    out.push(`<text x="10" y="${TOP + 20}">no Dump/Restore rows in these results (was the ops section run?)</text>`, '</svg>');
    return out.join('\n') + '\n';
  }

  // Ratio axis from 0 to the next 0.5 above the largest ratio (at least 2.0), so 1.00x sits at a fixed, readable place.
  const finiteRatios = rows.map((r) => r.wall.ratio).filter((x) => Number.isFinite(x));
  const maxRatio = Math.max(2, Math.ceil(Math.max(0, ...finiteRatios) * 2) / 2);
  const rx = (ratio: number): number => RATIO_X + (Math.max(0, ratio) / maxRatio) * RATIO_W;
  const bottom = TOP + rows.length * ROW_H;
  for (let t = 0; t <= maxRatio + 1e-9; t += 0.5) {
    out.push(
      `<line class="grid" x1="${n(rx(t))}" y1="${TOP - 4}" x2="${n(rx(t))}" y2="${bottom}" stroke="#e4e4e4"/>`,
      `<text x="${n(rx(t))}" y="${bottom + 14}" text-anchor="middle" fill="#555">${t.toFixed(1)}x</text>`,
    );
  }

  let missingSplit = 0;
  rows.forEach((r, i) => {
    const y = TOP + i * ROW_H;
    const label = `${r.workload} · ${OP_NAME[r.op] ?? r.op}`;
    if (i > 0 && rows[i - 1]?.workload !== r.workload) {
      out.push(`<line x1="10" y1="${y - 1}" x2="${W - 10}" y2="${y - 1}" stroke="#bbb"/>`);
    }
    out.push(`<text class="row-label" x="${LABEL_W}" y="${y + ROW_H / 2 + 4}" text-anchor="end">${escapeXml(label)}</text>`);

    // Ratio bar: red above the 1.00x target, green at or below it.
    const ratio = r.wall.ratio;
    const ok = Number.isFinite(ratio);
    const fill = ok && ratio <= 1 ? '#54a24b' : '#e45756';
    out.push(
      `<rect class="ratio-bar" data-workload="${escapeXml(r.workload)}" data-op="${escapeXml(r.op)}" x="${RATIO_X}" y="${y + 8}" ` +
        `width="${n(ok ? rx(ratio) - RATIO_X : 0)}" height="${ROW_H - 16}" fill="${fill}">` +
        `<title>${escapeXml(`${label}: agent ${fmtMs(r.wall.agent)} ms / CLI ${fmtMs(r.wall.cli)} ms`)}</title></rect>`,
      `<text class="ratio-value" x="${n((ok ? rx(ratio) : RATIO_X) + 4)}" y="${y + ROW_H / 2 + 4}">${ok ? `${ratio.toFixed(2)}x` : 'n/a'}</text>`,
    );

    // Split bars, scaled per row to the larger of the two sides (wall or sum of phases), so small workloads stay readable.
    const a = r.phases?.agent;
    const c = r.phases?.cli;
    const sa = a && segments(a);
    const sc = c && segments(c);
    const sum = (s: Record<SegmentKey, number> | undefined): number => (s ? s.before + s.criu + s.digest + s.after : 0);
    const scale = Math.max(sum(sa), sum(sc), r.wall.agent || 0, r.wall.cli || 0);
    const bar = (side: 'agent' | 'cli', s: Record<SegmentKey, number> | undefined, wall: number, by: number, bh: number): void => {
      if (!s || !(scale > 0)) {
        missingSplit++;
        out.push(
          `<rect class="split-missing" x="${SPLIT_X}" y="${by}" width="${n(scale > 0 ? (wall / scale) * SPLIT_W : 0)}" height="${bh}" ` +
            `fill="none" stroke="#999" stroke-dasharray="3 2"/>`,
        );
      } else {
        let x = SPLIT_X;
        for (const seg of SEGMENTS) {
          const w = (s[seg.key] / scale) * SPLIT_W;
          if (w <= 0) continue;
          out.push(
            `<rect class="split-seg seg-${seg.key}" data-side="${side}" x="${n(x)}" y="${by}" width="${n(w)}" height="${bh}" fill="${seg.color}">` +
              `<title>${escapeXml(`${label}, ${side === 'agent' ? 'agent' : 'CLI'}: ${seg.name} ${fmtMs(s[seg.key])} ms`)}</title></rect>`,
          );
          x += w;
        }
      }
      const end = SPLIT_X + (Math.max(s ? sum(s) : 0, wall || 0) / (scale || 1)) * SPLIT_W;
      out.push(
        `<text class="split-total" x="${n(end + 4)}" y="${by + bh - 1}" font-size="10" fill="#333">` +
          `${side === 'agent' ? 'agent' : 'CLI'} ${fmtMs(wall)}${s ? '' : ' (no split)'}</text>`,
      );
    };
    bar('agent', sa, r.wall.agent, y + 5, 11);
    bar('cli', sc, r.wall.cli, y + 18, 11);
  });

  // The 1.00x target, over the bars.
  out.push(
    `<line class="target" x1="${n(rx(1))}" y1="${TOP - 6}" x2="${n(rx(1))}" y2="${bottom}" stroke="#222" stroke-width="1.5" stroke-dasharray="5 3"/>`,
    `<text x="${n(rx(1) + 3)}" y="${TOP - 2}" font-size="10">1.00x target</text>`,
  );

  // Legend.
  const ly = bottom + 34;
  SEGMENTS.forEach((seg, i) => {
    const lx = 10 + (i % 2) * 330;
    const yy = ly + Math.floor(i / 2) * 18;
    out.push(
      `<rect x="${lx}" y="${yy - 10}" width="12" height="12" fill="${seg.color}"/>`,
      `<text x="${lx + 18}" y="${yy}">${escapeXml(seg.name)}</text>`,
    );
  });
  out.push(
    `<text x="680" y="${ly}"><tspan fill="#e45756">■</tspan> agent slower than CLI  <tspan fill="#54a24b">■</tspan> at or under target</text>`,
    `<text x="10" y="${ly + 40}" fill="#555" font-size="11">${escapeXml(
      'Split bars are scaled per row (to the slower side); the numbers are wall-time medians in ms. Phases come from file timestamps (±4 ms).' +
        (missingSplit ? ` ${missingSplit} bar(s) without a measured split are drawn dashed, wall time only.` : ''),
    )}</text>`,
    '</svg>',
  );
  return out.join('\n') + '\n';
}
