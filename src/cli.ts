#!/usr/bin/env node
// The `criu-agent` command (package.json "bin"): `serve` runs the agent, the
// other commands talk to it. Everything is in src/cli/.
import { run } from './cli/main';

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`criu-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
