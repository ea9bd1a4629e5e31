/**
 * `npm start` (scripts/prepare.sh) builds the native addon only when its
 * inputs changed: a second start finds it up to date and leaves it alone; a
 * change of inputs (here: a stamp that no longer matches them) rebuilds it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADDON_FILE } from '../../src/native/addon';
import { packageRoot } from '../../src/paths';

jest.setTimeout(180_000);

const SCRIPT = path.join(packageRoot, 'scripts', 'build-native.sh');
const STAMP = path.join(packageRoot, 'src', 'native', 'build', 'inputs.sha256');

function buildNative(): { status: number | null; out: string } {
  const r = spawnSync('bash', [SCRIPT], { cwd: packageRoot, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('scripts/build-native.sh', () => {
  it('is what scripts/prepare.sh (npm start, npm test) builds the addon with', () => {
    const prepare = fs.readFileSync(path.join(packageRoot, 'scripts', 'prepare.sh'), 'utf8');
    expect(prepare).toMatch(/^bash scripts\/build-native\.sh$/m);
    // Not the full build, which always rebuilds the addon (node-gyp rebuild).
    expect(prepare).not.toMatch(/npm run (--silent )?build$/m);
  });

  it('leaves an up-to-date addon alone, and rebuilds it when its inputs changed', () => {
    // Whatever state the checkout is in, after one run the addon matches its inputs.
    expect(buildNative().status).toBe(0);
    const built = fs.statSync(ADDON_FILE).mtimeMs;

    const again = buildNative();
    expect(again).toMatchObject({ status: 0 });
    expect(again.out).toContain('is up to date');
    expect(again.out).not.toContain('node-gyp');
    expect(fs.statSync(ADDON_FILE).mtimeMs).toBe(built);

    const inputs = fs.readFileSync(STAMP, 'utf8');
    fs.writeFileSync(STAMP, 'inputs of another build\n');
    const rebuilt = buildNative();
    expect(rebuilt.status).toBe(0);
    expect(rebuilt.out).toContain('build-native: building');
    expect(fs.statSync(ADDON_FILE).mtimeMs).toBeGreaterThan(built);
    expect(fs.readFileSync(STAMP, 'utf8')).toBe(inputs);
  });
});
