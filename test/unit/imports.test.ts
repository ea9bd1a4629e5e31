/**
 * No import circles in src/ (STYLE.md 17): when two modules need the same
 * helper, it moves below both. Type-only imports count too: they tie the
 * modules' designs together all the same.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Every relative import of every .ts file under `dir` (src/generated excluded), as a graph of absolute paths. */
function importGraph(dir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'generated' && e.name !== 'node_modules' && e.name !== 'build') walk(p);
      } else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) {
        const deps: string[] = [];
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s+'(\.[^']+)'/gm)) {
          const target = path.resolve(path.dirname(p), m[1] ?? '');
          const file = [`${target}.ts`, path.join(target, 'index.ts')].find((c) => fs.existsSync(c));
          if (file) deps.push(file);
        }
        graph.set(p, deps);
      }
    }
  };
  walk(dir);
  return graph;
}

/** Each circle once, as "a.ts -> b.ts -> a.ts" relative to `dir`. */
function circles(dir: string): string[] {
  const graph = importGraph(dir);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === 'open') found.push([...stack.slice(stack.indexOf(d)), d].map((x) => path.relative(dir, x)).join(' -> '));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return found;
}

it('src/ has no import circles', () => {
  expect(circles(path.resolve(__dirname, '../../src'))).toEqual([]);
});

it('finds a circle through a type-only import and an index.ts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-imports-'));
  try {
    fs.mkdirSync(path.join(dir, 'server'));
    fs.writeFileSync(path.join(dir, 'config.ts'), "import { parse } from './server';\nexport const x = parse;\n");
    fs.writeFileSync(path.join(dir, 'server', 'index.ts'), "export { parse } from './parse';\n");
    fs.writeFileSync(
      path.join(dir, 'server', 'parse.ts'),
      "import type { x } from '../config';\nexport const parse = (v: typeof x) => v;\n",
    );
    fs.writeFileSync(path.join(dir, 'leaf.ts'), "import * as fs from 'node:fs';\nexport const y = fs;\n");
    expect(circles(dir)).toEqual(['config.ts -> server/index.ts -> server/parse.ts -> config.ts']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
