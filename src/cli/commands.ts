import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import { once } from 'node:events';
import { errorMessage } from '../errors';
import { decodeFrames, encodeFrame } from './chunk-file';
import { DEFAULTS } from '../config';
import type { Checkpoint__Output } from '../generated/criu_agent/v1/Checkpoint';
import type { CheckResponse__Output } from '../generated/criu_agent/v1/CheckResponse';
import type { ContinueResponse__Output } from '../generated/criu_agent/v1/ContinueResponse';
import type { DeleteCheckpointResponse__Output } from '../generated/criu_agent/v1/DeleteCheckpointResponse';
import type { DumpStats__Output } from '../generated/criu_agent/v1/DumpStats';
import type { MigrateEvent__Output } from '../generated/criu_agent/v1/MigrateEvent';
import type { ListCheckpointsResponse__Output } from '../generated/criu_agent/v1/ListCheckpointsResponse';
import type { PreDumpResponse__Output } from '../generated/criu_agent/v1/PreDumpResponse';
import type { PushCheckpointResponse__Output } from '../generated/criu_agent/v1/PushCheckpointResponse';
import type { RestoreResponse__Output } from '../generated/criu_agent/v1/RestoreResponse';
import { EXIT, UsageError, parseCommand, pidArg, positionals, str, type FlagSpec, type FlagValues } from './args';
import {
  AgentConnection,
  CONNECTION_FLAGS,
  CONNECTION_FLAGS_HELP,
  hostOf,
  isCallFailure,
  resolveTarget,
  type AgentMethod,
  type AgentTarget,
  type CallOptions,
  type CallFailure,
} from './client';
import { fields, formatBytes, formatMicros, kindName, stateName, table } from './format';
import { optionFlags, optionsHelp, optionsMessage, parseArgsOptions } from './options';
import { startProgress } from './progress';

/** What a command writes to and reads from; the process's own streams outside tests. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stderr is a terminal: the live progress line is drawn there. */
  readonly stderrIsTTY: boolean;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  /** Binary stdout and stdin, for `export -o -` and `import -`; absent: those refuse. */
  readonly stdout?: NodeJS.WritableStream;
  readonly stdin?: NodeJS.ReadableStream;
}

/** --timeout of the commands that do not run CRIU (ls, show, rm, check, continue). */
const DEFAULT_TIMEOUT_SECONDS = 60;

/** Flags every client command takes. */
const CLIENT_FLAGS: FlagSpec = {
  ...CONNECTION_FLAGS,
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  'request-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export const CLIENT_FLAGS_HELP = `Client options (every command talking to the agent):
${CONNECTION_FLAGS_HELP}
  --json             print the agent's reply as JSON on stdout (field names as in the .proto); errors too, as {"error": {...}}
  --timeout SECONDS  give up (DEADLINE_EXCEEDED) after this long; default none for dump, pre-dump and restore, else ${DEFAULT_TIMEOUT_SECONDS}
  --request-id ID    the call's request id (x-request-id) in the agent's log; default: a new one (cli-<random>)`;

const FINAL_STATES: Record<string, string> = { running: 'FINAL_STATE_RUNNING', stopped: 'FINAL_STATE_STOPPED', dead: 'FINAL_STATE_DEAD' };

interface ClientCommand {
  usage: string;
  /** What it does, one paragraph. */
  about: string;
  flags?: FlagSpec;
  flagsHelp?: string;
  run(ctx: CommandContext, values: FlagValues, args: string[]): Promise<number>;
}

interface CommandContext {
  readonly name: string;
  readonly io: Io;
  readonly json: boolean;
  /** Calls the agent; prints a failure and turns it into the exit code. */
  call<Res>(
    method: AgentMethod,
    request: object,
    opts?: { longRunning?: boolean; progress?: Parameters<typeof startProgress>[0] },
  ): Promise<Res>;
  /** Like call, for calls other than unary ones (streams): `fn` makes the call with these options. */
  invoke<T>(fn: (connection: AgentConnection, opts: CallOptions) => Promise<T>, opts?: { longRunning?: boolean }): Promise<T>;
}

/** Thrown by CommandContext.call after printing the failure: carries the exit code. */
class CallFailed extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

function dumpCommand(op: 'dump' | 'pre-dump'): ClientCommand {
  const options = optionFlags('DumpOptions');
  const method: AgentMethod = op === 'dump' ? 'Dump' : 'PreDump';
  return {
    usage: `criu-agent ${op} PID --id ID [--parent ID]${op === 'dump' ? ' [--final-state running|stopped|dead]' : ''} [CRIU options] [--state-dir DIR] [--no-progress]`,
    about:
      op === 'dump'
        ? 'Checkpoints the process tree rooted at PID into a new checkpoint ID. The tree ends DEAD (killed) unless --final-state says running or stopped.'
        : 'Copies the memory of the tree rooted at PID into a new checkpoint ID while it keeps running; a later `dump --parent ID` writes only what changed.',
    flags: {
      id: { type: 'string' },
      parent: { type: 'string' },
      'final-state': { type: 'string' },
      'state-dir': { type: 'string' },
      'no-progress': { type: 'boolean' },
      ...parseArgsOptions(options),
    },
    flagsHelp: `  --id ID            name of the new checkpoint (1-128 of [A-Za-z0-9._-])
  --parent ID        a pre-dump of the same tree to build on
${op === 'dump' ? '  --final-state S    running, stopped or dead (the default)\n' : ''}  --state-dir DIR    the agent's state directory, to show the bytes written so far (default $CRIU_AGENT_STATE_DIR, else ${DEFAULTS.stateDir})
  --no-progress      no progress line (it is drawn only when stderr is a terminal)
CRIU options (DumpOptions in the API):
${optionsHelp(options)}`,
    run: async (ctx, values, args) => {
      const [pidText = ''] = positionals(ctx.name, args, ['PID']);
      const pid = pidArg(ctx.name, pidText);
      const id = str(values, 'id');
      if (!id) throw new UsageError(`${ctx.name}: --id ID is required (the name of the new checkpoint)`);
      const request = {
        pid,
        checkpoint_id: id,
        parent_checkpoint_id: str(values, 'parent') ?? '',
        final_state: finalState(ctx.name, str(values, 'final-state'), ['running', 'stopped', 'dead']),
        options: optionsMessage(options, values, ctx.name),
      };
      const reply = await ctx.call<PreDumpResponse__Output>(method, request, {
        longRunning: true,
        progress: { label: `${op} of pid ${pid} into ${id}`, stream: ctx.io.stderr, stateDir: stateDir(values, ctx.io), checkpointId: id },
      });
      if (ctx.json) return printJson(ctx.io, reply);
      const ignored = reply.final_state_ignored ? ' (a pre-dump always leaves it running: the requested state was ignored)' : '';
      ctx.io.out(
        `checkpoint ${reply.checkpoint_id}: ${op === 'dump' ? 'dumped' : 'pre-dumped'} pid ${pid} (${plural(reply.pids.length, 'process', 'processes')}), tree left ${stateName(reply.final_state)}${ignored}\n` +
          fields([
            ['pids', reply.pids.join(' ')],
            ['size', formatBytes(reply.size_bytes)],
            ...statsFields(reply.stats),
            ['images', reply.images_dir],
            ['log', reply.log_path],
          ]) +
          '\n',
      );
      return EXIT.OK;
    },
  };
}

function statsFields(s: DumpStats__Output | null | undefined): [string, string][] {
  if (!s) return [];
  return [
    ['frozen', `${formatMicros(s.frozen_time_us)} (freezing ${formatMicros(s.freezing_time_us)})`],
    ['pages', `${s.pages_scanned} scanned, ${s.pages_skipped_parent} skipped (in the parent), ${s.pages_written} written`],
  ];
}

const restoreOptions = optionFlags('RestoreOptions');

const COMMANDS: Record<string, ClientCommand> = {
  dump: dumpCommand('dump'),
  'pre-dump': dumpCommand('pre-dump'),
  restore: {
    usage: 'criu-agent restore ID|--image REF [ID] [--final-state running|stopped] [CRIU options] [--no-progress]',
    about:
      'Recreates the tree saved in checkpoint ID, with its original pids. It ends RUNNING unless --final-state stopped. ' +
      'With --image the checkpoint image REF is pulled first (as `pull REF --id ID`) unless the same checkpoint is here already.',
    flags: { image: { type: 'string' }, 'final-state': { type: 'string' }, 'no-progress': { type: 'boolean' }, ...parseArgsOptions(restoreOptions) },
    flagsHelp: `  --image REF        restore the checkpoint image REF of an OCI registry (registry/repository:tag or @sha256:...)
  --final-state S    running (the default) or stopped
  --no-progress      no progress line (it is drawn only when stderr is a terminal)
CRIU options (RestoreOptions in the API; most must match the dump's):
${optionsHelp(restoreOptions)}`,
    run: async (ctx, values, args) => {
      const image = str(values, 'image') ?? '';
      const [id = ''] = image && args.length === 0 ? [''] : positionals(ctx.name, args, ['ID']);
      const request = {
        checkpoint_id: id,
        image_reference: image,
        final_state: finalState(ctx.name, str(values, 'final-state'), ['running', 'stopped']),
        options: optionsMessage(restoreOptions, values, ctx.name),
      };
      const reply = await ctx.call<RestoreResponse__Output>('Restore', request, {
        longRunning: true,
        progress: { label: `restore of ${image || id}`, stream: ctx.io.stderr },
      });
      if (ctx.json) return printJson(ctx.io, reply);
      const s = reply.stats;
      ctx.io.out(
        `checkpoint ${reply.checkpoint_id}: restored pid ${reply.pid} (${plural(reply.pids.length, 'process', 'processes')}), tree ${stateName(reply.final_state)}\n` +
          fields([
            ['pids', reply.pids.join(' ')],
            ['time', s ? `${formatMicros(s.restore_time_us)} (forking ${formatMicros(s.forking_time_us)})` : undefined],
            ['pages', s ? `${s.pages_restored} restored` : undefined],
            ['log', reply.log_path],
          ]) +
          '\n',
      );
      return EXIT.OK;
    },
  },
  continue: {
    usage: 'criu-agent continue PID',
    about: 'Resumes a stopped tree (SIGCONT to each of its processes).',
    run: async (ctx, _values, args) => {
      const [pidText = ''] = positionals(ctx.name, args, ['PID']);
      const reply = await ctx.call<ContinueResponse__Output>('Continue', { pid: pidArg(ctx.name, pidText) });
      if (ctx.json) return printJson(ctx.io, reply);
      ctx.io.out(`continued ${reply.pids.join(' ')}${reply.stopped_by ? ` (stopped by ${reply.stopped_by})` : ''}\n`);
      return EXIT.OK;
    },
  },
  ls: {
    usage: 'criu-agent ls',
    about: 'Lists the complete checkpoints on the node, oldest first.',
    run: async (ctx, _values, args) => {
      positionals(ctx.name, args, []);
      const reply = await ctx.call<ListCheckpointsResponse__Output>('ListCheckpoints', {});
      if (ctx.json) return printJson(ctx.io, reply);
      if (reply.checkpoints.length === 0) {
        ctx.io.out('no checkpoints\n');
        return EXIT.OK;
      }
      const rows = reply.checkpoints.map((c) => [
        c.checkpoint_id,
        kindName(c.kind),
        c.parent_checkpoint_id || '-',
        String(c.pid),
        String(c.pids.length),
        formatBytes(c.size_bytes),
        stateName(c.final_state),
        c.created_at,
        c.command_line.join(' '),
      ]);
      ctx.io.out(table(['ID', 'KIND', 'PARENT', 'PID', 'PROCS', 'SIZE', 'LEFT', 'CREATED', 'COMMAND'], rows) + '\n');
      return EXIT.OK;
    },
  },
  show: {
    usage: 'criu-agent show ID',
    about: "Shows checkpoint ID's manifest.",
    run: async (ctx, _values, args) => {
      const [id = ''] = positionals(ctx.name, args, ['ID']);
      const c = await ctx.call<Checkpoint__Output>('GetCheckpoint', { checkpoint_id: id });
      if (ctx.json) return printJson(ctx.io, c);
      ctx.io.out(
        `checkpoint ${c.checkpoint_id}\n` +
          fields([
            ['kind', kindName(c.kind)],
            ['parent', c.parent_checkpoint_id],
            ['children', c.children.join(' ')],
            ['pid', String(c.pid)],
            ['pids', c.pids.join(' ')],
            ['command', c.command_line.join(' ')],
            ['created', c.created_at],
            ['tree left', stateName(c.final_state)],
            ['size', `${formatBytes(c.size_bytes)} in ${plural(c.file_count, 'file', 'files')} (${c.digest_algorithm} digests)`],
            ...statsFields(c.stats),
            ['criu', c.criu_version],
            ['kernel', c.kernel],
            ['images', c.images_dir],
          ]) +
          '\n',
      );
      return EXIT.OK;
    },
  },
  rm: {
    usage: 'criu-agent rm ID [--cascade]',
    about: 'Deletes checkpoint ID; with --cascade also the checkpoints built on it (else refused while there are any).',
    flags: { cascade: { type: 'boolean' } },
    flagsHelp: '  --cascade          also delete the checkpoints built on ID, and theirs',
    run: async (ctx, values, args) => {
      const [id = ''] = positionals(ctx.name, args, ['ID']);
      const reply = await ctx.call<DeleteCheckpointResponse__Output>('DeleteCheckpoint', {
        checkpoint_id: id,
        cascade: values.cascade === true,
      });
      if (ctx.json) return printJson(ctx.io, reply);
      ctx.io.out(`deleted ${reply.deleted.join(' ')}\n`);
      return EXIT.OK;
    },
  },
  push: {
    usage: 'criu-agent push ID REF [--no-progress]',
    about:
      'Uploads checkpoint ID, with the pre-dumps it builds on, to the OCI registry image REF (registry/repository:tag), sending only the files ' +
      "the registry lacks. The agent reaches the registry with the node's credentials and TLS settings (docs/registry.md).",
    flags: { 'no-progress': { type: 'boolean' } },
    flagsHelp: '  --no-progress      no progress line (it is drawn only when stderr is a terminal)',
    run: async (ctx, _values, args) => {
      const [id = '', ref = ''] = positionals(ctx.name, args, ['ID', 'REF']);
      const started = Date.now();
      const reply = await ctx.call<PushCheckpointResponse__Output>(
        'PushCheckpoint',
        { checkpoint_id: id, reference: ref },
        { longRunning: true, progress: { label: `push of ${id} to ${ref}`, stream: ctx.io.stderr } },
      );
      if (ctx.json) return printJson(ctx.io, reply);
      const secs = Math.max((Date.now() - started) / 1000, 0.001);
      ctx.io.out(
        `pushed checkpoint ${id} to ${reply.reference}
` +
          fields([
            ['digest', reply.digest],
            ['uploaded', `${formatBytes(reply.bytes_uploaded)} in ${secs.toFixed(1)} s (${formatBytes(Number(reply.bytes_uploaded) / secs)}/s)`],
            ['already there', formatBytes(reply.bytes_skipped)],
          ]) +
          '\n',
      );
      return EXIT.OK;
    },
  },
  pull: {
    usage: 'criu-agent pull REF [--id ID] [--state-dir DIR] [--no-progress]',
    about:
      'Downloads the checkpoint image REF (registry/repository:tag or @sha256:...) into the node as checkpoint ID (default: the tag, else the id the image records). ' +
      'Every blob and file is checked against its digests before the checkpoint is listed; on any failure nothing is kept.',
    flags: { id: { type: 'string' }, 'state-dir': { type: 'string' }, 'no-progress': { type: 'boolean' } },
    flagsHelp: `  --id ID            the local id of the pulled checkpoint
  --state-dir DIR    the agent's state directory, to show the bytes written so far (default $CRIU_AGENT_STATE_DIR, else ${DEFAULTS.stateDir})
  --no-progress      no progress line (it is drawn only when stderr is a terminal)`,
    run: async (ctx, values, args) => {
      const [ref = ''] = positionals(ctx.name, args, ['REF']);
      const id = str(values, 'id') ?? '';
      const started = Date.now();
      const tag = /:([A-Za-z0-9_][A-Za-z0-9_.-]*)$/.exec(ref.split('@')[0]?.split('/').pop() ?? '')?.[1];
      const c = await ctx.call<Checkpoint__Output>(
        'PullCheckpoint',
        { reference: ref, checkpoint_id: id },
        { longRunning: true, progress: { label: `pull of ${ref}`, stream: ctx.io.stderr, stateDir: stateDir(values, ctx.io), checkpointId: id || tag } },
      );
      if (ctx.json) return printJson(ctx.io, c);
      const secs = Math.max((Date.now() - started) / 1000, 0.001);
      ctx.io.out(
        `pulled ${ref} as checkpoint ${c.checkpoint_id}${c.parent_checkpoint_id ? ` (on ${c.parent_checkpoint_id})` : ''}: ` +
          `${plural(c.file_count, 'file', 'files')}, ${formatBytes(c.size_bytes)} in ${secs.toFixed(1)} s (${formatBytes(Number(c.size_bytes) / secs)}/s), digests verified\n`,
      );
      return EXIT.OK;
    },
  },
  export: {
    usage: 'criu-agent export ID [--include-parents] [-o FILE|-]',
    about:
      'Writes checkpoint ID (with --include-parents also the pre-dumps it builds on) as a checkpoint stream: to FILE, or with "-" (the default) to stdout. ' +
      '`criu-agent import` on another node stores it there. The file holds the CheckpointChunk messages of ExportCheckpoint, each preceded by its length (a protobuf varint).',
    flags: { 'include-parents': { type: 'boolean' }, output: { type: 'string', short: 'o' } },
    flagsHelp: `  --include-parents  also export the pre-dumps ID builds on (else the importing node must have them)
  -o, --output FILE  where to write the stream; "-" (the default): stdout`,
    run: async (ctx, values, args) => {
      const [id = ''] = positionals(ctx.name, args, ['ID']);
      const target = str(values, 'output') ?? '-';
      if (target === '-' && !ctx.io.stdout) throw new UsageError(`${ctx.name}: no binary stdout here: name a file with -o FILE`);
      if (target === '-' && ctx.json) throw new UsageError(`${ctx.name}: --json needs -o FILE (stdout carries the stream)`);
      // A new file only: a failed export removes it, and never clobbers one that was there.
      const out = target === '-' ? (ctx.io.stdout as NodeJS.WritableStream) : fs.createWriteStream(target, { flags: 'wx', mode: 0o600 });
      if (out instanceof fs.WriteStream) await once(out, 'open');
      let bytes = 0;
      let files = 0;
      try {
        await ctx.invoke(
          (c, opts) =>
            c.exportCheckpoint(
              { checkpoint_id: id, include_parents: values['include-parents'] === true },
              async (chunk) => {
                if (chunk.manifest) files += chunk.manifest.files.length;
                const frame = encodeFrame(chunk);
                bytes += frame.length;
                if (!out.write(frame)) await once(out, 'drain');
              },
              opts,
            ),
          { longRunning: true },
        );
      } catch (err) {
        if (out instanceof fs.WriteStream) {
          out.destroy();
          fs.rmSync(target, { force: true });
        }
        throw err;
      }
      if (out instanceof fs.WriteStream) await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      const summary = { checkpoint_id: id, file: target === '-' ? 'stdout' : target, bytes, files };
      if (ctx.json) return printJson(ctx.io, summary);
      ctx.io.err(`exported checkpoint ${id}: ${plural(files, 'file', 'files')}, ${formatBytes(bytes)} to ${summary.file}\n`);
      return EXIT.OK;
    },
  },
  import: {
    usage: 'criu-agent import [FILE|-]',
    about:
      'Stores the checkpoints of a stream written by `criu-agent export` (FILE, or stdin with "-", the default) on the node. ' +
      'Every file is checked against the exporting node\'s digests before the checkpoints are listed; on any failure nothing is kept.',
    run: async (ctx, _values, args) => {
      const [source = '-'] = args.length ? positionals(ctx.name, args, ['FILE']) : ['-'];
      if (source === '-' && !ctx.io.stdin) throw new UsageError(`${ctx.name}: no binary stdin here: name a FILE`);
      if (source !== '-' && !fs.existsSync(source)) throw new UsageError(`${ctx.name}: ${source} does not exist`);
      const input = source === '-' ? (ctx.io.stdin as NodeJS.ReadableStream) : fs.createReadStream(source);
      let c: Checkpoint__Output;
      try {
        c = await ctx.invoke(async (conn, opts) => (await conn.importCheckpoint<Checkpoint__Output>(decodeFrames(input as AsyncIterable<Buffer>), opts)).reply, {
          longRunning: true,
        });
      } catch (err) {
        if (err instanceof CallFailed || isCallFailure(err)) throw err;
        ctx.io.err(`criu-agent: ${source === '-' ? 'stdin' : source}: ${errorMessage(err)}; the agent kept nothing\n`);
        return EXIT.FAILURE;
      }
      if (ctx.json) return printJson(ctx.io, c);
      ctx.io.out(
        `imported checkpoint ${c.checkpoint_id}${c.parent_checkpoint_id ? ` (on ${c.parent_checkpoint_id})` : ''}: ${plural(c.file_count, 'file', 'files')}, ${formatBytes(c.size_bytes)}, digests verified\n` +
          fields([['images', c.images_dir]]) +
          '\n',
      );
      return EXIT.OK;
    },
  },
  migrate: {
    usage: 'criu-agent migrate PID --to ADDR [--id ID] [--mode auto|stop-and-copy|pre-copy|post-copy] [--final-state running|stopped] [CRIU options]',
    about:
      'Moves the running tree rooted at PID to the agent at ADDR (host:port or unix:/path, as that agent is reached from this one). ' +
      'The destination is checked before anything is frozen; on any failure the tree is resumed here. One progress line per step on stderr, then the result.',
    flags: {
      to: { type: 'string' },
      id: { type: 'string' },
      mode: { type: 'string' },
      'final-state': { type: 'string' },
      'max-pre-dump-rounds': { type: 'string' },
      ...parseArgsOptions(optionFlags('DumpOptions')),
    },
    flagsHelp: `  --to ADDR          the destination agent: host:port or unix:/path (required)
  --id ID            the checkpoint's id on the destination; default migrate-<pid>-<time>
  --mode M           auto (the default: the best both nodes support), stop-and-copy, pre-copy, post-copy
  --final-state S    running (the default) or stopped, on the destination
  --max-pre-dump-rounds N   pre-copy: at most N pre-dump rounds
CRIU options of the dump (DumpOptions in the API):
${optionsHelp(optionFlags('DumpOptions'))}`,
    run: async (ctx, values, args) => {
      const [pidText = ''] = positionals(ctx.name, args, ['PID']);
      const pid = pidArg(ctx.name, pidText);
      const to = str(values, 'to');
      if (!to) throw new UsageError(`${ctx.name}: --to ADDR is required (the destination agent)`);
      const modes: Record<string, string> = {
        auto: 'MIGRATE_MODE_UNSPECIFIED',
        'stop-and-copy': 'MIGRATE_MODE_STOP_AND_COPY',
        'pre-copy': 'MIGRATE_MODE_PRE_COPY',
        'post-copy': 'MIGRATE_MODE_POST_COPY',
      };
      const mode = modes[str(values, 'mode') ?? 'auto'];
      if (!mode) throw new UsageError(`${ctx.name}: --mode is one of ${Object.keys(modes).join(', ')}`);
      const rounds = Number(str(values, 'max-pre-dump-rounds') ?? '0');
      if (!Number.isInteger(rounds) || rounds < 0) throw new UsageError(`${ctx.name}: --max-pre-dump-rounds takes a whole number`);
      const request = {
        pid,
        destination: to.startsWith('/') ? `unix:${to}` : to,
        checkpoint_id: str(values, 'id') ?? '',
        mode,
        max_pre_dump_rounds: rounds,
        final_state: finalState(ctx.name, str(values, 'final-state'), ['running', 'stopped']),
        options: optionsMessage(optionFlags('DumpOptions'), values, ctx.name),
      };
      let result: MigrateEvent__Output['result'] = null;
      const events: MigrateEvent__Output[] = [];
      await ctx.invoke(
        (c, opts) =>
          c.serverStream<MigrateEvent__Output>(
            'Migrate',
            request,
            (e) => {
              events.push(e);
              if (e.result) result = e.result;
              if (!ctx.json) ctx.io.err(`${e.step.replace('MIGRATE_STEP_', '').toLowerCase()}: ${e.message}${Number(e.duration_us) ? ` (${formatMicros(e.duration_us)})` : ''}\n`);
            },
            opts,
          ),
        { longRunning: true },
      );
      if (ctx.json) return printJson(ctx.io, { events });
      const r = result as MigrateEvent__Output['result'];
      if (!r) return EXIT.FAILURE;
      ctx.io.out(
        `migrated pid ${pid} to ${to}: pid ${r.destination_pid} (${plural(r.pids.length, 'process', 'processes')}), ${stateName(r.final_state)}, checkpoint ${r.checkpoint_id}\n` +
          fields([
            ['mode', r.mode.replace('MIGRATE_MODE_', '').toLowerCase().replace(/_/g, '-')],
            ['downtime', formatMicros(r.downtime_us)],
            ['frozen', formatMicros(r.frozen_time_us)],
            ['sent', `${formatBytes(r.transfer_bytes)} (images after the dump in ${formatMicros(r.transfer_time_us)})`],
            ['restore', formatMicros(r.restore_time_us)],
          ]) +
          '\n',
      );
      return EXIT.OK;
    },
  },
  check: {
    usage: 'criu-agent check',
    about: 'Shows the CRIU the agent drives and the kernel features that decide what it can do.',
    run: async (ctx, _values, args) => {
      positionals(ctx.name, args, []);
      const r = await ctx.call<CheckResponse__Output>('Check', {});
      if (ctx.json) return printJson(ctx.io, r);
      const yes = (b: boolean): string => (b ? 'yes' : 'no');
      ctx.io.out(
        fields([
          ['criu', r.criu_version],
          ['transport', r.criu_transport],
          ['kernel', r.kernel],
          ['memory tracking', `${yes(r.mem_track)}${r.mem_track ? '' : ' (PreDump is refused)'}`],
          ['lazy pages', yes(r.lazy_pages)],
          ['pidfd store', yes(r.pidfd_store)],
        ]).replace(/^ {2}/gm, '') + '\n',
      );
      return EXIT.OK;
    },
  },
};

export const CLIENT_COMMANDS: readonly string[] = Object.keys(COMMANDS);

/** One line per client command, for the top-level usage. */
export function clientCommandsHelp(): string {
  return Object.values(COMMANDS)
    .map((c) => `  ${c.usage}`)
    .join('\n');
}

/** Runs a client command (dump, pre-dump, restore, continue, ls, show, rm, check); returns the exit code. */
export async function runClientCommand(name: string, argv: readonly string[], io: Io): Promise<number> {
  const cmd = COMMANDS[name];
  if (!cmd) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const { values, positionals: args } = parseCommand(name, argv, { ...CLIENT_FLAGS, ...cmd.flags });
  if (values.help) {
    io.out(`usage: ${cmd.usage}\n\n${cmd.about}\n${cmd.flagsHelp ? `\n${cmd.flagsHelp}\n` : ''}\n${CLIENT_FLAGS_HELP}\n`);
    return EXIT.OK;
  }
  const timeout = str(values, 'timeout');
  if (timeout !== undefined && !(Number(timeout) > 0))
    throw new UsageError(`${name}: --timeout takes a number of seconds, not ${JSON.stringify(timeout)}`);
  const connection = new AgentConnection(resolveTarget(values, io.env));
  const json = values.json === true;
  const showProgress = io.stderrIsTTY && values['no-progress'] !== true;
  const ctx: CommandContext = {
    name,
    io,
    json,
    call: async <Res>(
      method: AgentMethod,
      request: object,
      opts: { longRunning?: boolean; progress?: Parameters<typeof startProgress>[0] } = {},
    ) => ctx.invoke(async (c, callOpts) => (await c.call<Res>(method, request, callOpts)).reply, opts),
    invoke: async <T>(
      fn: (c: AgentConnection, opts: CallOptions) => Promise<T>,
      opts: { longRunning?: boolean; progress?: Parameters<typeof startProgress>[0] } = {},
    ) => {
      // Ctrl-C cancels the call: the agent stops CRIU and leaves the tree running.
      const cancel = new AbortController();
      const onSigint = (): void => cancel.abort();
      process.once('SIGINT', onSigint);
      const progress = showProgress && opts.progress ? startProgress(opts.progress) : undefined;
      const timeoutMs = timeout !== undefined ? Number(timeout) * 1000 : opts.longRunning ? undefined : DEFAULT_TIMEOUT_SECONDS * 1000;
      try {
        return await fn(connection, { timeoutMs, requestId: str(values, 'request-id'), signal: cancel.signal });
      } catch (err) {
        if (!isCallFailure(err)) throw err;
        progress?.stop();
        throw new CallFailed(
          reportFailure(io, json, err, connection.target, {
            interrupted: cancel.signal.aborted,
            timeoutSeconds: timeout !== undefined ? Number(timeout) : timeoutMs !== undefined ? timeoutMs / 1000 : undefined,
            command: name,
          }),
        );
      } finally {
        progress?.stop();
        process.off('SIGINT', onSigint);
      }
    },
  };
  try {
    return await cmd.run(ctx, values, args);
  } catch (err) {
    if (err instanceof CallFailed) return err.exitCode;
    throw err;
  } finally {
    connection.close();
  }
}

/** What reportFailure knows of the call besides its error. */
export interface FailureContext {
  /** Ctrl-C cancelled it. */
  interrupted?: boolean;
  /** The call's deadline, in seconds, when it had one. */
  timeoutSeconds?: number;
  /** The CLI command, e.g. "dump": API field names in the agent's message are said as its flags. */
  command?: string;
}

/** Commands whose call acts on a process tree (cancel and deadline leave it as it was). */
const TREE_COMMANDS = new Set(['dump', 'pre-dump', 'restore', 'continue']);

/** Prints a failed call (stderr; also stdout as JSON with --json) and returns its exit code: 10 + the gRPC status code. */
export function reportFailure(io: Io, json: boolean, f: CallFailure, target: AgentTarget, ctx: FailureContext = {}): number {
  const code = f.error.code;
  const name = grpc.status[code] ?? `status ${code}`;
  const details = f.error.details || f.error.message;
  const criuLog = f.error.metadata?.get('criu-log')[0];
  const criuErrno = f.error.metadata?.get('criu-errno')[0];
  // UNAVAILABLE without CRIU's log is, most often, no connection to the agent at all.
  const noConnection = code === grpc.status.UNAVAILABLE && criuLog === undefined;
  // grpc-js's own deadline text ("Deadline exceeded after 0.499s,name resolution: ...") is its internals: say what happened.
  const clientDeadline = code === grpc.status.DEADLINE_EXCEEDED && /^Deadline exceeded after /.test(details);
  let text = details;
  if (noConnection) text = withoutEmptyNotes(details.replace(/\s*\n\s*/g, ' '));
  else if (clientDeadline) text = `no reply within ${ctx.timeoutSeconds !== undefined ? `--timeout ${ctx.timeoutSeconds} s` : 'the deadline'}`;
  else text = inCliTerms(details, ctx.command);
  const lines = [`criu-agent: ${name}: ${text}`];
  const tree = ctx.command !== undefined && TREE_COMMANDS.has(ctx.command);
  if (ctx.interrupted) lines.push(`  interrupted: the agent stops CRIU and leaves ${tree ? 'the tree as it was' : 'everything as it was'}`);
  else if (clientDeadline && tree) lines.push('  timed out: the agent stops CRIU and leaves the tree as it was');
  if (noConnection) lines.push(`  ${connectionHint(details, target)}`);
  if (criuLog !== undefined) lines.push(`  criu log: ${String(criuLog)}`);
  if (criuErrno !== undefined) lines.push(`  criu errno: ${String(criuErrno)}`);
  // Without the agent's answer the id is only worth printing when the call may have reached it.
  const showId = f.requestId !== undefined && (f.answered || clientDeadline || ctx.interrupted === true);
  if (showId) lines.push(`  request id: ${f.requestId}`);
  io.err(lines.join('\n') + '\n');
  if (json) {
    const error = {
      code: name,
      code_number: code,
      message: details,
      ...(criuLog !== undefined ? { criu_log: String(criuLog) } : {}),
      ...(criuErrno !== undefined ? { criu_errno: Number(criuErrno) } : {}),
      ...(showId ? { request_id: f.requestId } : {}),
    };
    io.out(JSON.stringify({ error }, null, 2) + '\n');
  }
  return EXIT.STATUS_BASE + code;
}

/** grpc-js ends some connection errors with a label and nothing after it ("Resolution note: "). */
function withoutEmptyNotes(text: string): string {
  return text.replace(/(?:[.,;]?\s*[A-Z][A-Za-z ]*note:\s*)+$/, '').replace(/\s+$/, '');
}

/**
 * The agent's messages name API fields (`options.shell_job`, which a
 * controller sets); a CLI user sets flags. Each field the command has a flag
 * for is said as that flag.
 */
export function inCliTerms(message: string, command?: string): string {
  if (!command) return message;
  const cmd = COMMANDS[command];
  const flags = new Set(Object.keys(cmd?.flags ?? {}));
  const said = message.replace(/\boptions\.([a-z][a-z0-9_]*)\b/g, (whole, field: string) => {
    const flag = field.replace(/_/g, '-');
    return flags.has(flag) ? `--${flag}` : whole;
  });
  return said
    .replace(/\bparent_checkpoint_id\b/g, (w) => (flags.has('parent') ? '--parent' : w))
    .replace(/\bfinal_state\b/g, (w) => (flags.has('final-state') ? '--final-state' : w))
    .replace(/\bcheckpoint_id\b/g, (w) => (flags.has('id') ? '--id' : w));
}

/**
 * What to change when no connection to the agent could be made. grpc-js puts
 * the connection's last error in the details; the patterns are what grpc-js
 * 1.14 on Node 20 (OpenSSL 3) reported for each mistake, tried against a real
 * agent (test/integration/cli-tls.test.ts makes each of them).
 */
function connectionHint(details: string, target: AgentTarget): string {
  const { address, tls } = target;
  const fallback = `is the agent running and listening on ${address}? (--address or CRIU_AGENT_ADDRESS name another)`;
  if (!tls) {
    // A TLS listener drops the plaintext HTTP/2 preface before any gRPC is spoken.
    if (!address.startsWith('unix:') && /Failed to connect|ECONNRESET/.test(details)) {
      return `${address} took the connection but did not answer plaintext gRPC: if the agent serves TLS there, add --tls-ca FILE (and --tls-cert and --tls-key when it requires client certificates)`;
    }
    return fallback;
  }
  if (/alert certificate required/.test(details)) {
    return 'the agent requires a client certificate (mTLS): add --tls-cert FILE and --tls-key FILE, a certificate signed by the CA of its --tls-client-ca';
  }
  if (/does not match certificate's altnames/.test(details)) {
    return `the agent's certificate is not issued for ${hostOf(address)}: add --tls-server-name with a name it carries (a DNS or IP subjectAltName), or dial that name`;
  }
  if (/self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate/.test(details)) {
    return tls.ca
      ? `the agent's certificate is not signed by a CA in ${tls.ca.value} (${tls.ca.from}): name the CA that signed it`
      : "the agent's certificate is not signed by a CA of the system's roots: add --tls-ca FILE, the CA that signed it";
  }
  if (/wrong version number/.test(details)) {
    return `the agent does not serve TLS at ${address} (plaintext TCP, loopback only): drop the --tls-* options and CRIU_AGENT_CLIENT_TLS_* variables`;
  }
  // Its certificate was accepted (else the errors above): the agent hung up on ours, rejected after the handshake.
  if (/Failed to connect|ECONNRESET/.test(details)) {
    return tls.cert
      ? `the agent closed the connection after the TLS handshake: it did not accept the client certificate ${tls.cert.value} (it must be signed by the CA of the agent's --tls-client-ca, for clientAuth)`
      : 'the agent closed the connection after the TLS handshake: it may require a client certificate (--tls-cert FILE and --tls-key FILE)';
  }
  return fallback;
}

function printJson(io: Io, value: unknown): number {
  io.out(JSON.stringify(value, null, 2) + '\n');
  return EXIT.OK;
}

function finalState(command: string, given: string | undefined, allowed: string[]): string {
  if (given === undefined) return 'FINAL_STATE_UNSPECIFIED';
  const v = given.toLowerCase();
  if (!allowed.includes(v)) throw new UsageError(`${command}: --final-state is one of ${allowed.join(', ')}, not ${JSON.stringify(given)}`);
  return FINAL_STATES[v] ?? 'FINAL_STATE_UNSPECIFIED';
}

/** The state directory to watch for the progress line: the flag, the agent's environment variable, or its default. */
function stateDir(values: FlagValues, io: Io): string {
  return str(values, 'state-dir') ?? (io.env.CRIU_AGENT_STATE_DIR || DEFAULTS.stateDir);
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
