/** Runs the built `criu-agent` command (dist/cli.js) as a user's shell would, for the CLI's end-to-end tests. */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
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
