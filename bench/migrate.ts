/**
 * Issue #13's measure: Migrate (stop-and-copy) between two agents on this
 * machine, next to the naive way a user would script it today: `criu dump`
 * to disk, copy the directory to the other node, `criu restore` there. The
 * destination is a second "node" as in the tests: an agent in its own pid,
 * network and mount namespaces, reached over a unix socket; the naive restore
 * runs in the same namespaces (nsenter). Both sides move the same workload (a
 * process holding N MiB), interleaved, and the result is ratios, never
 * pass/fail. `npm run bench:migrate [-- --sizes 64,512 --runs 3]`.
 *
 * Downtime: Migrate's own downtime_us (CRIU's freeze to the tree running on
 * the destination); the naive way's is the wall time from starting `criu
 * dump` to the end of `criu restore -d` (all of it is downtime: the dump
 * kills the tree). The naive copy is `cp -a` on the same disk, the cheapest
 * copy there is (no network), so the comparison is in the naive way's favour.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MigrateEvent__Output } from '../src/generated/criu_agent/v1/MigrateEvent';
import { packageRoot } from '../src/paths';
import { startAgent, type AgentProcess } from '../test/helpers/agent';
import { startTarget } from '../test/helpers/target';
import { CLI_LOG_ARGS, resolveCriu } from './lib/criu';
import { median, run } from './lib/util';

interface Args {
  sizes: number[];
  runs: number;
  dir: string;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sizes: [64, 512], runs: 3, dir: '/var/tmp/criu-agent-bench-migrate', out: path.join(packageRoot, 'bench', 'results', 'migrate.json') };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--sizes') a.sizes = v.split(',').map(Number);
    else if (flag === '--runs') a.runs = Number(v);
    else if (flag === '--dir') a.dir = v;
    else if (flag === '--out') a.out = v;
    else throw new Error(`usage: npm run bench:migrate -- [--sizes 64,512,2048] [--runs N] [--dir DIR] [--out FILE.json]; got ${flag}`);
  }
  if (a.sizes.some((s) => !Number.isInteger(s) || s <= 0) || !Number.isInteger(a.runs) || a.runs < 1) throw new Error('--sizes and --runs take positive whole numbers');
  return a;
}

/** One Migrate: its wall time and the phases its events report (ms). */
interface MigrateSample {
  totalMs: number;
  downtimeMs: number;
  frozenMs: number;
  dumpMs: number;
  pageBytes: number;
  transferMs: number;
  restoreMs: number;
}

/** One naive run: dump, copy, restore (ms); all of it is downtime. */
interface NaiveSample {
  totalMs: number;
  downtimeMs: number;
  dumpMs: number;
  copyMs: number;
  restoreMs: number;
}

function migrateOnce(src: AgentProcess, req: object): Promise<{ events: MigrateEvent__Output[]; ms: number }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const events: MigrateEvent__Output[] = [];
    const c = src.client.Migrate(req);
    c.on('data', (e: MigrateEvent__Output) => events.push(e));
    c.on('error', (err: grpc.ServiceError) => reject(new Error(`Migrate failed: ${err.details}`)));
    c.on('end', () => resolve({ events, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const criu = resolveCriu();
  fs.rmSync(args.dir, { recursive: true, force: true });
  fs.mkdirSync(args.dir, { recursive: true });
  // As deployed: log level info (the helpers' default is debug).
  const [src, dst] = await Promise.all([
    startAgent({ dir: path.join(args.dir, 'src'), args: ['--log-level', 'info'] }),
    startAgent({ dir: path.join(args.dir, 'dst'), args: ['--log-level', 'info'], namespaced: true }),
  ]);
  const inDst = (cmd: string[]): Promise<Awaited<ReturnType<typeof run>>> => run('nsenter', ['-t', String(dst.pid), '-n', '-p', '-m', '--', ...cmd]);
  const results: Record<string, { migrate: MigrateSample[]; naive: NaiveSample[] }> = {};
  let seq = 0;
  try {
    for (const mib of args.sizes) {
      const r = (results[`${mib}`] = { migrate: [] as MigrateSample[], naive: [] as NaiveSample[] });
      for (let i = 0; i < args.runs; i++) {
        // Migrate.
        {
          const t = await startTarget({ children: 0, extraMiB: mib, readyTimeoutMs: 120_000 });
          await run('sync', []);
          const { events, ms } = await migrateOnce(src, { pid: t.pid, destination: `unix:${dst.socket}`, checkpoint_id: `bench-${seq++}` });
          const res = events.at(-1)?.result;
          if (!res) throw new Error('Migrate ended without a result');
          const step = (s: string): MigrateEvent__Output | undefined => events.find((e) => e.step === s);
          r.migrate.push({
            totalMs: ms,
            downtimeMs: Number(res.downtime_us) / 1000,
            frozenMs: Number(res.frozen_time_us) / 1000,
            dumpMs: Number(step('MIGRATE_STEP_DUMPED')?.duration_us ?? 0) / 1000,
            pageBytes: Number(step('MIGRATE_STEP_DUMPED')?.bytes ?? 0),
            transferMs: Number(res.transfer_time_us) / 1000,
            restoreMs: Number(res.restore_time_us) / 1000,
          });
          await inDst(['kill', '-9', String(res.destination_pid)]);
          await new Promise<void>((resolve) => dst.client.DeleteCheckpoint({ checkpoint_id: res.checkpoint_id }, () => resolve()));
          await t.kill();
        }
        // The naive way.
        {
          const t = await startTarget({ children: 0, extraMiB: mib, readyTimeoutMs: 120_000 });
          const dumpDir = path.join(args.dir, `naive-${seq}-src`);
          const copyDir = path.join(args.dir, `naive-${seq++}-dst`);
          fs.mkdirSync(dumpDir);
          await run('sync', []);
          const t0 = process.hrtime.bigint();
          const dump = await run(criu, ['dump', '-t', String(t.pid), '-D', dumpDir, ...CLI_LOG_ARGS('dump.log')]);
          if (dump.code !== 0) throw new Error(`criu dump failed (${dump.code}): see ${dumpDir}/dump.log`);
          const copy = await run('cp', ['-a', dumpDir, copyDir]);
          if (copy.code !== 0) throw new Error(`cp failed: ${copy.stderr}`);
          const restore = await inDst([criu, 'restore', '-D', copyDir, '-d', ...CLI_LOG_ARGS('restore.log')]);
          const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
          if (restore.code !== 0) throw new Error(`criu restore failed (${restore.code}): see ${copyDir}/restore.log`);
          r.naive.push({ totalMs, downtimeMs: totalMs, dumpMs: dump.ms, copyMs: copy.ms, restoreMs: restore.ms });
          await inDst(['kill', '-9', String(t.pid)]);
          await t.kill();
          fs.rmSync(dumpDir, { recursive: true, force: true });
          fs.rmSync(copyDir, { recursive: true, force: true });
        }
        process.stderr.write(`${mib} MiB: round ${i + 1}/${args.runs} done\n`);
      }
    }
  } finally {
    await Promise.all([src.dispose(), dst.dispose()]);
  }

  const med = <T>(xs: T[], f: (x: T) => number): number => median(xs.map(f));
  const lines = [
    `Migrate (stop-and-copy, destination in its own pid/net/mount namespaces over a unix socket) against criu dump + cp -a + criu restore in the same namespaces; ` +
      `a process holding N MiB, ${args.runs} interleaved rounds, medians; ${os.cpus().length} cores, ${os.release()}.`,
    '',
    '| tree | Migrate downtime | naive downtime | **downtime ratio** | Migrate total | naive total | **total ratio** |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const summary: Record<string, unknown> = {};
  for (const [mib, r] of Object.entries(results)) {
    const md = med(r.migrate, (s) => s.downtimeMs);
    const nd = med(r.naive, (s) => s.downtimeMs);
    const mt = med(r.migrate, (s) => s.totalMs);
    const nt = med(r.naive, (s) => s.totalMs);
    summary[mib] = { downtimeRatio: md / nd, totalRatio: mt / nt, migrateDowntimeMs: md, naiveDowntimeMs: nd, migrateTotalMs: mt, naiveTotalMs: nt };
    lines.push(`| ${mib} MiB | ${md.toFixed(0)} ms | ${nd.toFixed(0)} ms | **${(md / nd).toFixed(2)}x** | ${mt.toFixed(0)} ms | ${nt.toFixed(0)} ms | **${(mt / nt).toFixed(2)}x** |`);
  }
  lines.push('', 'Where the time goes (medians, ms):', '', '| tree | Migrate: dump with pages relayed | page bytes relayed | relay MiB/s | other images sent | restore on the destination | naive: dump | copy | restore |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [mib, r] of Object.entries(results)) {
    const dump = med(r.migrate, (s) => s.dumpMs);
    const bytes = med(r.migrate, (s) => s.pageBytes);
    lines.push(
      `| ${mib} MiB | ${dump.toFixed(0)} | ${(bytes / 1048576).toFixed(1)} MiB | ${(bytes / 1048576 / (dump / 1000)).toFixed(0)} | ${med(r.migrate, (s) => s.transferMs).toFixed(0)} | ` +
        `${med(r.migrate, (s) => s.restoreMs).toFixed(0)} | ${med(r.naive, (s) => s.dumpMs).toFixed(0)} | ${med(r.naive, (s) => s.copyMs).toFixed(0)} | ${med(r.naive, (s) => s.restoreMs).toFixed(0)} |`,
    );
  }
  lines.push('', 'Target (issue #13): Migrate downtime at most 0.6x the naive way for 512 MiB and more.', '');
  const md = lines.join('\n');
  process.stdout.write(md);
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(
    args.out,
    JSON.stringify({ sizesMiB: args.sizes, runs: args.runs, summary, samples: results, machine: { cores: os.cpus().length, kernel: os.release(), load: os.loadavg() } }, null, 2) + '\n',
  );
  fs.writeFileSync(args.out.replace(/\.json$/, '.md'), md);
  fs.rmSync(args.dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
