import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../src/paths';
import { renderChart, type ChartInput } from './lib/chart';

/**
 * npm run bench:chart [-- RESULTS.json [OUT.svg]]: redraws the SVG chart of a
 * bench run from its results JSON without running the bench again (default:
 * bench/results/latest.json, written next to it as latest.svg).
 */
async function main(): Promise<void> {
  const [input = path.join(packageRoot, 'bench', 'results', 'latest.json'), output] = process.argv.slice(2);
  if (input === '--help' || input === '-h') {
    process.stdout.write('usage: npm run bench:chart -- [RESULTS.json] [OUT.svg]\n');
    return;
  }
  const json = JSON.parse(await fsp.readFile(input, 'utf8')) as Partial<ChartInput>;
  if (!Array.isArray(json.summary?.ops)) throw new Error(`${input}: no summary.ops, not a results file of npm run bench`);
  const out = output ?? input.replace(/\.json$/, '') + '.svg';
  await fsp.writeFile(out, renderChart(json as ChartInput));
  process.stdout.write(`wrote ${out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:chart: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
