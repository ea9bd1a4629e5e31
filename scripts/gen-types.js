#!/usr/bin/env node
// Generates TypeScript types for every .proto under proto/ with the same
// loader options the agent passes to loadSync (src/proto-options.json), so
// the types describe exactly the objects the agent sees at run time.
// `--check` regenerates into a temporary folder and fails when the checked-in
// files differ (run in `npm test`).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'src', 'generated');
const options = require(path.join(root, 'src', 'proto-options.json'));
const protos = ['criu/rpc.proto', 'criu/stats.proto', 'criu_agent/v1/agent.proto'];

function flags(opts) {
  const out = [];
  if (opts.keepCase) out.push('--keepCase');
  if (opts.longs) out.push(`--longs=${opts.longs}`);
  if (opts.enums) out.push(`--enums=${opts.enums}`);
  if (opts.defaults) out.push('--defaults');
  if (opts.oneofs) out.push('--oneofs');
  return out;
}

function generate(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const bin = path.join(root, 'node_modules', '.bin', 'proto-loader-gen-types');
  execFileSync(
    bin,
    [...protos, ...flags(options), '--includeComments', '--grpcLib=@grpc/grpc-js', `--outDir=${dir}`, '--includeDirs=proto'],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

function listFiles(dir, base = dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))]))
    .sort();
}

if (process.argv.includes('--check')) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-gen-'));
  try {
    generate(tmp);
    const want = listFiles(tmp);
    const have = fs.existsSync(outDir) ? listFiles(outDir) : [];
    const stale = want.filter((f) => !have.includes(f) || !fs.readFileSync(path.join(tmp, f)).equals(fs.readFileSync(path.join(outDir, f))));
    const extra = have.filter((f) => !want.includes(f));
    if (stale.length || extra.length) {
      console.error(`src/generated does not match proto/: ${[...stale, ...extra].join(', ')}. Run \`npm run gen:types\` and commit the result.`);
      process.exit(1);
    }
    console.log(`src/generated matches proto/ (${want.length} files)`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
} else {
  generate(outDir);
  console.log(`generated ${listFiles(outDir).length} files in src/generated`);
}
