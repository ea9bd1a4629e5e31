/**
 * Issue #14's measure: PushCheckpoint and PullCheckpoint of a 512 MiB
 * checkpoint against a local registry (Debian's docker-registry), next to
 * copying the same directory as `tar | curl -T -` to a plain HTTP server
 * (and `curl | tar -x` back). Runs interleaved; prints ratios, never
 * pass/fail. `bash bench/registry.sh [--mib N] [--runs N]`.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomFillSync } from 'node:crypto';
import { packageRoot } from '../src/paths';
import { startRegistry } from '../test/helpers/registry';
import { writeCheckpoint } from '../test/helpers/transfer';
import { startBenchAgent } from './lib/agent';

interface Args {
  mib: number;
  runs: number;
  dir: string;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { mib: 512, runs: 3, dir: '/var/tmp/criu-agent-bench-registry', out: path.join(packageRoot, 'bench', 'results', 'registry.json') };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const flag = argv[i];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === '--mib') a.mib = Number(v);
    else if (flag === '--runs') a.runs = Number(v);
    else if (flag === '--dir') a.dir = v;
    else if (flag === '--out') a.out = v;
    else throw new Error(`usage: bash bench/registry.sh [--mib N] [--runs N] [--dir DIR] [--out FILE.json]; got ${flag}`);
  }
  return a;
}

type Unary = (req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => unknown;

function sh(cmd: string): void {
  execFileSync('/bin/sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function timed(fn: () => Promise<void> | void): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** A plain HTTP server in its own process: PUT /up stores the body in a file, GET /down sends it back. */
async function startSink(file: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const code = `
    const http = require('node:http'), fs = require('node:fs');
    const file = process.argv[1];
    const srv = http.createServer((req, res) => {
      if (req.method === 'PUT') { const w = fs.createWriteStream(file); req.pipe(w); w.on('finish', () => res.writeHead(201).end()); return; }
      res.writeHead(200, { 'content-length': fs.statSync(file).size }); fs.createReadStream(file).pipe(res);
    });
    srv.listen(0, '127.0.0.1', () => console.log('port ' + srv.address().port));`;
  const child = spawn(process.execPath, ['-e', code, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill();
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  fs.rmSync(args.dir, { recursive: true, force: true });
  fs.mkdirSync(args.dir, { recursive: true });
  const registry = await startRegistry();
  const stateDir = path.join(args.dir, 'state');
  const agent = await startBenchAgent({ listen: `unix:${path.join(args.dir, 'agent.sock')}`, stateDir, args: ['--registry-insecure', registry.host] });
  const sink = await startSink(path.join(args.dir, 'upload.tar'));
  const call = <Res>(method: string, req: unknown): Promise<Res> =>
    new Promise((resolve, reject) =>
      ((agent.client as unknown as Record<string, Unary>)[method] as Unary).call(agent.client, req, new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res as Res))),
    );
  try {
    // A checkpoint as CRIU leaves one: one large pages image, small images around it.
    const pages = Buffer.allocUnsafe(args.mib * 1024 * 1024);
    randomFillSync(pages);
    const small: Record<string, Buffer> = {};
    for (let i = 0; i < 12; i++) small[`img-${i}.img`] = randomFillSync(Buffer.allocUnsafe(4096 * (i + 1)));
    await writeCheckpoint(stateDir, 'bench', { 'pages-1.img': pages, ...small });
    const dir = path.join(stateDir, 'checkpoints', 'bench');
    const bytes = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    const ref = `${registry.host}/bench/ckpt:v1`;
    const rows: Record<string, number[]> = { push: [], 'tar|curl upload': [], 'tar|curl blob upload to the registry': [], pull: [], 'curl|tar download': [] };
    const base = `http://${registry.host}/v2/bench/tar/blobs`;
    for (let r = 0; r < args.runs; r++) {
      // Empty storage each round, so the push sends every byte (HEAD finds nothing).
      fs.rmSync(path.join(registry.storageDir, 'docker'), { recursive: true, force: true });
      sh('sync');
      rows.push?.push(await timed(() => call('PushCheckpoint', { checkpoint_id: 'bench', reference: ref }).then(() => undefined)));
      sh('sync');
      rows['tar|curl upload']?.push(await timed(() => sh(`tar -C '${dir}' -cf - . | curl -sSf -T - '${sink.url}/up'`)));
      sh('sync');
      // The same registry's own cost: the tar streamed as one blob (POST, one streamed PATCH, PUT ?digest=).
      rows['tar|curl blob upload to the registry']?.push(
        await timed(() => {
          execFileSync('/bin/bash', ['-c', [
            'set -euo pipefail',
            `loc=$(curl -sSf -X POST -D - -o /dev/null '${base}/uploads/' | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p')`,
            `case "$loc" in http*) ;; *) loc="http://${registry.host}$loc";; esac`,
            `tar -C '${dir}' -cf - . | tee >(sha256sum | cut -d' ' -f1 > '${args.dir}/tar.sha') | curl -sSf -X PATCH -H 'Content-Type: application/octet-stream' -T - -D '${args.dir}/patch.h' -o /dev/null "$loc"`,
            'sleep 0.05',
            `loc=$(tr -d '\\r' < '${args.dir}/patch.h' | sed -n 's/^[Ll]ocation: //p')`,
            `case "$loc" in http*) ;; *) loc="http://${registry.host}$loc";; esac`,
            `sep='?'; case "$loc" in *\?*) sep='&';; esac`,
            `curl -sSf -X PUT -o /dev/null "$loc\${sep}digest=sha256:$(cat '${args.dir}/tar.sha')"`,
          ].join('\n')], { stdio: ['ignore', 'ignore', 'inherit'] });
        }),
      );
      sh('sync');
      rows.pull?.push(await timed(() => call('PullCheckpoint', { reference: ref, checkpoint_id: 'pulled' }).then(() => undefined)));
      await call('DeleteCheckpoint', { checkpoint_id: 'pulled' });
      const dst = path.join(args.dir, `untar-${r}`);
      fs.mkdirSync(dst);
      sh('sync');
      rows['curl|tar download']?.push(await timed(() => sh(`curl -sSf '${sink.url}/down' | tar -C '${dst}' -xf -`)));
      fs.rmSync(dst, { recursive: true, force: true });
      process.stderr.write(`round ${r + 1}/${args.runs} done\n`);
    }
    const mibs = bytes / (1024 * 1024);
    const med = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
    const ratio = (a: string, b: string): string => ((med[a] ?? NaN) / (med[b] ?? NaN)).toFixed(2);
    const md = [
      `Checkpoint of ${mibs.toFixed(1)} MiB (${Object.keys(small).length + 1} files), ${args.runs} interleaved rounds, medians; ${os.cpus().length} cores, ${os.release()}.`,
      '',
      '| what | median s | MiB/s | runs (s) |',
      '| --- | --- | --- | --- |',
      ...Object.entries(rows).map(([k, v]) => `| ${k} | ${(med[k] ?? NaN).toFixed(2)} | ${(mibs / (med[k] ?? NaN)).toFixed(0)} | ${v.map((x) => x.toFixed(2)).join(', ')} |`),
      '',
      `push / tar|curl upload: **${ratio('push', 'tar|curl upload')}x**; push / the same tar as one blob into the registry: **${ratio('push', 'tar|curl blob upload to the registry')}x**; ` +
        `pull / curl|tar download: **${ratio('pull', 'curl|tar download')}x** (target: within 1.2x).`,
      '',
    ].join('\n');
    process.stdout.write(md);
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(args.out, JSON.stringify({ bytes, runs: rows, medians: med, machine: { cores: os.cpus().length, kernel: os.release(), load: os.loadavg() } }, null, 2) + '\n');
    fs.writeFileSync(args.out.replace(/\.json$/, '.md'), md);
  } finally {
    await agent.stop();
    await sink.stop();
    await registry.stop();
    fs.rmSync(args.dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

