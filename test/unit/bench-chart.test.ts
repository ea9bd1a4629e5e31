import * as fs from 'node:fs';
import * as path from 'node:path';
import { escapeXml, renderChart, type ChartInput } from '../../bench/lib/chart';

type Row = ChartInput['summary']['ops'][number];

function row(workload: string, op: string, agent: number, cli: number, phases: Row['phases'] | undefined): Row {
  return { workload, op, wall: { agent, cli, ratio: agent / cli }, ...(phases ? { phases } : {}) };
}

const split = (startMs: number, criuMs: number, finishMs: number, digestMs?: number) => ({
  startMs,
  criuMs,
  finishMs,
  ...(digestMs === undefined ? {} : { digestMs }),
});

const input: ChartInput = {
  label: 'unit',
  machine: { date: '2026-11-29T16:23:51.871Z', cpu: '2 × AMD EPYC', hostKernel: '6.18' },
  summary: {
    ops: [
      row('sleep', 'dump-dead', 72, 54, { agent: split(18, 40, 12, 4), cli: split(0.3, 44, 5.5) }),
      row('sleep', 'restore', 40, 50, { agent: split(10, 25, 5), cli: split(2, 40, 6) }),
      // Results from before the time split was measured: no phases at all.
      row('mem-64m', 'dump-running', 128, 83, undefined),
    ],
  },
};

/** Tag names in order of appearance, checked for balance: a small stand-in for an XML parser. */
function checkBalanced(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, selfClose] = m as unknown as [string, string, string, string];
    if (selfClose) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
}

function count(svg: string, re: RegExp): number {
  return [...svg.matchAll(re)].length;
}

describe('renderChart (bench/lib/chart.ts)', () => {
  const svg = renderChart(input);

  it('is one balanced svg element with no stray markup characters in text', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    checkBalanced(svg);
    // Every & starts an entity; no NaN or undefined leaks into attributes.
    expect(svg).not.toMatch(/&(?!amp;|lt;|gt;|quot;|apos;)/);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('draws one ratio bar per workload and operation, with its label and value', () => {
    expect(count(svg, /class="ratio-bar"/g)).toBe(3);
    for (const [w, op] of [
      ['sleep', 'dump-dead'],
      ['sleep', 'restore'],
      ['mem-64m', 'dump-running'],
    ]) {
      expect(svg).toContain(`data-workload="${w}" data-op="${op}"`);
    }
    expect(svg).toContain('>sleep · Dump DEAD</text>');
    expect(svg).toContain('>sleep · Restore</text>');
    expect(svg).toContain('>mem-64m · Dump RUNNING</text>');
    expect(svg).toContain('>1.33x</text>');
    expect(svg).toContain('>0.80x</text>');
    expect(svg).toContain('>1.54x</text>');
  });

  it('marks the 1.00x target, and colours ratios above it apart from those at or under it', () => {
    expect(count(svg, /class="target"/g)).toBe(1);
    expect(svg).toContain('1.00x target');
    const fills = [...svg.matchAll(/class="ratio-bar"[^>]*fill="(#[0-9a-f]+)"/g)].map((m) => m[1]);
    expect(fills[0]).toBe(fills[2]);
    expect(fills[1]).not.toBe(fills[0]);
  });

  it('stacks the time split per side, and draws rows without a split dashed and says so', () => {
    // Agent of row 1: before, CRIU, digest, after; CLI of row 1: before, CRIU, after; row 2: 3 + 3.
    expect(count(svg, /class="split-seg /g)).toBe(4 + 3 + 3 + 3);
    expect(count(svg, /class="split-seg seg-digest"/g)).toBe(1);
    expect(count(svg, /class="split-missing"/g)).toBe(2);
    expect(svg).toContain('agent 128 (no split)');
    expect(svg).toContain('2 bar(s) without a measured split are drawn dashed');
    expect(svg).toContain('CLI 54.0');
  });

  it('draws a negative phase (coarse file clock) as nothing rather than a negative width', () => {
    const neg = renderChart({ summary: { ops: [row('sleep', 'dump-dead', 50, 40, { agent: split(-2, 40, 10), cli: split(1, 35, 4) })] } });
    expect(neg).not.toMatch(/width="-/);
    expect(count(neg, /class="split-seg seg-before" data-side="agent"/g)).toBe(0);
    expect(count(neg, /class="split-seg seg-before" data-side="cli"/g)).toBe(1);
  });

  it('escapes workload names and labels', () => {
    expect(escapeXml(`a<b>&"c"'`)).toBe('a&lt;b&gt;&amp;&quot;c&quot;&apos;');
    const odd = renderChart({
      label: 'x & <y>',
      summary: { ops: [row('w<"&\'>', 'dump-dead', 10, 10, undefined)] },
    });
    checkBalanced(odd);
    expect(odd).not.toContain('w<"');
    expect(odd).toContain('data-workload="w&lt;&quot;&amp;&apos;&gt;"');
    expect(odd).toContain('(x &amp; &lt;y&gt;)');
    expect(odd).toContain('>1.00x</text>');
  });

  it('says so when the results hold no Dump/Restore rows', () => {
    const empty = renderChart({ summary: { ops: [] } });
    checkBalanced(empty);
    expect(empty).toContain('no Dump/Restore rows');
    expect(empty).not.toContain('ratio-bar');
  });

  it('matches the committed chart of the committed results (npm run bench:chart redraws it)', () => {
    const dir = path.join(__dirname, '..', '..', 'bench', 'results');
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8')) as ChartInput;
    const drawn = renderChart(results);
    expect(count(drawn, /class="ratio-bar"/g)).toBe(results.summary.ops.length);
    expect(fs.readFileSync(path.join(dir, 'latest.svg'), 'utf8')).toBe(drawn);
  });
});
