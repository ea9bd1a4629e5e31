#!/usr/bin/env node
// Generates what the agent needs from the .proto files under proto/:
// - src/generated/: TypeScript types, with the same loader options the agent
//   passes to loadSync (src/proto-options.json), so the types describe exactly
//   the objects the agent sees at run time;
// - proto/reflection.binpb: the FileDescriptorSet server reflection serves
//   (src/server/reflection.ts), compiled by buf (from node_modules, pinned by
//   the lock file) with source info, so that `grpcurl describe` prints the
//   comments: criu_agent/v1/agent.proto and the grpc.health.v1 proto of
//   grpc-health-check under its canonical name, grpc/health/v1/health.proto.
// Both are checked in: `npm start` needs no compiler.
// `--check` regenerates into a temporary folder and fails when the checked-in
// files differ (run in `npm test`).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'src', 'generated');
const descriptorSet = path.join(root, 'proto', 'reflection.binpb');
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

const buf = (...args) => execFileSync(path.join(root, 'node_modules', '.bin', 'buf'), args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

/**
 * The served FileDescriptorSet, written to `out`: the module of buf.yaml
 * (proto/criu_agent), then the health proto. A FileDescriptorSet is only its
 * repeated `file` field, so two sets written one after the other are one set.
 */
function buildDescriptorSet(out) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-desc-'));
  try {
    const health = path.join(tmp, 'health');
    fs.mkdirSync(path.join(health, 'grpc', 'health', 'v1'), { recursive: true });
    fs.copyFileSync(require('grpc-health-check').protoPath, path.join(health, 'grpc', 'health', 'v1', 'health.proto'));
    buf('build', '--as-file-descriptor-set', '-o', path.join(tmp, 'agent.binpb'));
    buf('build', health, '--as-file-descriptor-set', '-o', path.join(tmp, 'health.binpb'));
    fs.writeFileSync(out, Buffer.concat([fs.readFileSync(path.join(tmp, 'agent.binpb')), fs.readFileSync(path.join(tmp, 'health.binpb'))]));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
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
    buildDescriptorSet(path.join(tmp, 'reflection.binpb'));
    const staleSet = !fs.existsSync(descriptorSet) || !fs.readFileSync(descriptorSet).equals(fs.readFileSync(path.join(tmp, 'reflection.binpb')));
    if (stale.length || extra.length || staleSet) {
      const files = [...stale, ...extra].map((f) => `src/generated/${f}`).concat(staleSet ? ['proto/reflection.binpb'] : []);
      console.error(`${files.join(', ')}: not what proto/ generates. Run \`npm run gen:types\` and commit the result.`);
      process.exit(1);
    }
    console.log(`src/generated (${want.length} files) and proto/reflection.binpb match proto/`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
} else {
  generate(outDir);
  buildDescriptorSet(descriptorSet);
  console.log(`generated ${listFiles(outDir).length} files in src/generated, and proto/reflection.binpb`);
}
