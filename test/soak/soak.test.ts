/**
 * The CI soak: `npm run soak -- --minutes 2 --seed 17` (bench/soak/README.md),
 * a fixed-seed mix of every operation, hostile calls and faults against one
 * real agent with real CRIU. One test per invariant, so that CI's
 * "N passed, N failed" line says which ones broke; the soak's own output
 * (with the seed and examples) is in the failure message.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { INVARIANTS } from '../../bench/soak/context';
import { packageRoot } from '../../src/paths';

const SEED = 17;
const MINUTES = 2;

interface Tally {
  count: number;
  examples: string[];
}

/** The parts of the soak's JSON summary this test reads. */
interface Summary {
  seed: number;
  passed: boolean;
  broken: string[];
  invariants: Record<string, Tally>;
  calls: number;
  byMethod: Record<string, Record<string, number>>;
  byOp: Record<string, Record<string, number>>;
  faults: Record<string, Tally>;
  agentRestarts: number;
  checkpoints: { filesVerified: number; finalRestores: number; restoresVerifiedAtQuietPoints: number };
  resources: { incarnations: { judged: boolean; rssMiB?: { start: number; end: number } }[] };
}

let dir: string;
let exitCode: number | null = null;
let output = '';
let summary: Summary | undefined;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-soak-'));
  const json = path.join(dir, 'summary.json');
  const child = spawn(
    'bash',
    [path.join(packageRoot, 'bench', 'soak', 'run.sh'), '--minutes', String(MINUTES), '--seed', String(SEED), '--json', json],
    {
      cwd: packageRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  exitCode = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  if (fs.existsSync(json)) summary = JSON.parse(fs.readFileSync(json, 'utf8')) as Summary;
}, 12 * 60_000);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The soak's printed summary, for failure messages. */
function tail(): string {
  return output.slice(-6000);
}

describe(`soak, ${MINUTES} minutes, seed ${SEED}`, () => {
  it('ran to the end and wrote its summary', () => {
    if (!summary) throw new Error(`no summary written; soak exited ${String(exitCode)}:\n${tail()}`);
    expect(summary.seed).toBe(SEED);
  });

  it.each(INVARIANTS)('invariant %s held', (inv) => {
    const v = summary?.invariants[inv];
    if (!v) throw new Error(`no verdict on ${inv}:\n${tail()}`);
    if (v.count > 0) throw new Error(`${inv} broken ${v.count}x (seed ${SEED}):\n  ${v.examples.join('\n  ')}\n\n${tail()}`);
  });

  it('exits 0 exactly when every invariant held', () => {
    expect(summary).toBeDefined();
    expect(exitCode).toBe(summary?.passed ? 0 : 1);
  });

  it('covered every operation, hostile call and fault kind', () => {
    const s = summary;
    if (!s) throw new Error(`no summary:\n${tail()}`);
    for (const m of ['Dump', 'PreDump', 'Restore', 'Continue', 'ListCheckpoints', 'GetCheckpoint', 'DeleteCheckpoint', 'Migrate']) {
      expect([m, s.byMethod[m]?.OK ?? 0, Object.keys(s.byMethod[m] ?? {}).length > 0]).toEqual([m, expect.any(Number), true]);
    }
    // Round trips to the second node and back that completed.
    expect([s.byOp['Migrate.there']?.OK ?? 0, s.byOp['Migrate.back']?.OK ?? 0].every((n) => n > 0)).toBe(true);
    // This host has no soft-dirty tracking: PreDump is refused, and counted.
    expect(s.byMethod.PreDump?.FAILED_PRECONDITION ?? 0).toBeGreaterThan(0);
    for (const f of ['criu-kill', 'agent-kill', 'fs-fill', 'target-kill']) expect([f, (s.faults[f]?.count ?? 0) > 0]).toEqual([f, true]);
    expect(s.agentRestarts).toBeGreaterThanOrEqual(1);
    expect(s.checkpoints.filesVerified).toBeGreaterThan(0);
    expect(s.checkpoints.finalRestores + s.checkpoints.restoresVerifiedAtQuietPoints).toBeGreaterThan(0);
  });

  it("judged the agent's resources over its last process's life", () => {
    const last = summary?.resources.incarnations.at(-1);
    expect(last?.judged).toBe(true);
    expect(last?.rssMiB?.start).toBeGreaterThan(0);
  });
});
