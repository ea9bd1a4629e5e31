/** Runs the built `criu-agent` command (dist/cli.js) as a user's shell would, for the CLI's end-to-end tests. */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { packageRoot } from '../../src/paths';

export const CLI = path.join(packageRoot, 'dist', 'cli.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (no terminal: stdio are pipes) with `env` added to this process's environment, and collects its output. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return outcome(spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
}

/** The exit code and the whole output of a child spawned with piped stdout and stderr. */
export function outcome(child: ChildProcessByStdio<null, Readable, Readable>): Promise<Run> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A copy of the built CLI that every user can read: dist/, proto/, the native
 * addon and the production dependencies (package-lock.json's packages not
 * marked dev), in a 0755 temporary folder. A test running the CLI as another
 * uid needs it, because the checkout may sit where only root can enter (root's
 * home is 0700, where root naturally clones it).
 */
export function readableCliCopy(): { cli: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-cli-copy-'));
  fs.chmodSync(dir, 0o755);
  const copy = (rel: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true, mode: 0o755 });
    fs.cpSync(path.join(packageRoot, rel), path.join(dir, rel), { recursive: true });
  };
  for (const rel of ['package.json', 'dist', 'proto', path.join('src', 'native', 'build', 'Release', 'seqpacket.node')]) copy(rel);
  const lock = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const [rel, meta] of Object.entries(lock.packages)) {
    if (rel.startsWith('node_modules/') && !meta.dev && fs.existsSync(path.join(packageRoot, rel))) copy(rel);
  }
  // Folders made on the way keep mkdtemp's or the umask's mode: open them all to others.
  const open = (d: string): void => {
    fs.chmodSync(d, 0o755);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) open(path.join(d, e.name));
  };
  open(dir);
  return { cli: path.join(dir, 'dist', 'cli.js'), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
