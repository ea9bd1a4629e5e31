/** Human output of the CLI: sizes, times, tables. */

type Num = number | string | null | undefined;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB"; uint64 fields arrive as strings. */
export function formatBytes(v: Num): string {
  let n = Number(v ?? 0);
  let u = 0;
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${n.toFixed(1)} ${UNITS[u]}`;
}

/** 3.25 -> "3.3 s"; 75 -> "1m15s". */
export function formatSeconds(secs: number): string {
  if (secs < 60) return `${secs.toFixed(1)} s`;
  const m = Math.floor(secs / 60);
  return `${m}m${String(Math.floor(secs - m * 60)).padStart(2, '0')}s`;
}

/** Microseconds (CRIU's statistics) -> "182.4 ms" or "2.31 s". */
export function formatMicros(v: Num): string {
  const us = Number(v ?? 0);
  if (us < 1000) return `${us} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

/** "FINAL_STATE_STOPPED" -> "STOPPED"; "CHECKPOINT_KIND_PRE_DUMP" -> "pre-dump". */
export function stateName(v: string | undefined): string {
  return (v ?? '').replace(/^FINAL_STATE_/, '');
}

export function kindName(v: string | undefined): string {
  return (v ?? '')
    .replace(/^CHECKPOINT_KIND_/, '')
    .toLowerCase()
    .replace(/_/g, '-');
}

/** Left-aligned columns separated by two spaces. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** "  key    value" lines, skipping empty values. */
export function fields(pairs: [string, string | undefined][]): string {
  const shown = pairs.filter((p): p is [string, string] => p[1] !== undefined && p[1] !== '');
  const width = Math.max(...shown.map(([k]) => k.length)) + 2;
  return shown.map(([k, v]) => `  ${k.padEnd(width)}${v}`).join('\n');
}
