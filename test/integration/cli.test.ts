/**
 * The `criu-agent` CLI end to end: the built dist/cli.js against a real agent,
 * real CRIU and real process trees: dump (human and --json), ls, show,
 * restore, continue, rm, check, health; errors (message and exit code); the
 * live progress line on a terminal; and `serve`'s configuration errors and
 * `config print`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitForPidFree, waitForTreeStatus } from '../../src/proctree';
import { startAgent, type AgentProcess, hasDumpLog } from '../helpers/agent';
import { CLI, cli, outcome, type Run } from '../helpers/cli';
import { killAllTargets, startTarget, type Target } from '../helpers/target';

jest.setTimeout(120_000);

/**
 * Runs the CLI on a pseudo-terminal (stdout and stderr both the terminal, as
 * in a shell) and returns everything it drew there. Python's pty module: no
 * `script` or expect needed, and nothing read from this process's stdin.
 */
function cliOnTerminal(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const runner = `
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
`;
  return outcome(
    spawn('/usr/bin/python3', ['-c', runner, process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }),
  );
}

let agent: AgentProcess;
let env: NodeJS.ProcessEnv;
let seq = 0;
const newId = (what: string): string => `cli-${what}-${process.pid}-${seq++}`;

/** Dumped DEAD trees stay zombies until reaped: wait before restoring into their pids. */
async function waitGone(t: Target): Promise<void> {
  for (const pid of t.allPids) expect(await waitForPidFree(pid, 15_000)).toBe(true);
}

beforeAll(async () => {
  agent = await startAgent({ args: ['--pid-wait-ms', '500'] });
  // The CLI finds the agent through the environment, as a user's shell would.
  env = { CRIU_AGENT_ADDRESS: `unix:${agent.socket}`, CRIU_AGENT_STATE_DIR: agent.stateDir };
});

afterEach(async () => {
  await killAllTargets();
});

afterAll(async () => {
  await agent?.dispose();
});

describe('criu-agent CLI against a real agent', () => {
  it('check: CRIU and the kernel, human and JSON', async () => {
    const human = await cli(['check'], env);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toMatch(/^criu\s+\d+\.\d+/m);
    expect(human.stdout).toMatch(/^transport\s+criu swrk \(/m);
    expect(human.stdout).toMatch(/^kernel\s+\S+/m);
    const json = await cli(['check', '--json'], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      criu_version: expect.stringMatching(/^\d+\.\d+/) as unknown,
      mem_track: expect.any(Boolean) as unknown,
    });
  });

  it('health: SERVING, exit 0', async () => {
    expect(await cli(['health'], env)).toMatchObject({ code: 0, stdout: 'SERVING\n' });
    expect(await cli(['health', '--service', 'criu_agent.v1.CheckpointAgent', '--json'], env)).toMatchObject({
      code: 0,
      stdout: '{"status":"SERVING"}\n',
    });
  });

  it('health of an agent whose CRIU does not answer: NOT_SERVING, exit 3; --liveness exit 0 (the probes)', async () => {
    const broken = await startAgent({ args: ['--criu-path', '/nonexistent/criu'] });
    try {
      for (let i = 0; i < 400 && !/CRIU does not answer/.test(broken.output()); i++) await new Promise((r) => setTimeout(r, 25));
      const address = ['--address', `unix:${broken.socket}`];
      expect(await cli(['health', ...address])).toMatchObject({ code: 3, stdout: 'NOT_SERVING\n' });
      expect(await cli(['health', '--liveness', ...address])).toMatchObject({ code: 0, stdout: 'NOT_SERVING\n' });
      const check = await cli(['check', ...address]);
      expect(check.code).toBe(24); // UNAVAILABLE: CRIU cannot be reached
      expect(check.stderr).toMatch(/^criu-agent: UNAVAILABLE: /);
    } finally {
      await broken.dispose();
    }
  });

  it('dump, ls, show, restore, continue, rm: a real tree checkpointed, restored stopped, resumed, and its checkpoints deleted', async () => {
    const t = await startTarget();
    const before = await t.query();
    const running = newId('running');
    const dead = newId('dead');

    // A dump that leaves the tree running, human output; no progress line without a terminal.
    const d1 = await cli(['dump', String(t.pid), '--id', running, '--final-state', 'running'], env);
    expect(d1.stderr).toBe('');
    expect(d1.code).toBe(0);
    expect(d1.stdout).toMatch(new RegExp(`^checkpoint ${running}: dumped pid ${t.pid} \\(3 processes\\), tree left RUNNING$`, 'm'));
    expect(d1.stdout).toMatch(new RegExp(`^  pids\\s+${t.allPids.join(' ')}$`, 'm'));
    expect(d1.stdout).toMatch(/^ {2}size\s+\d+\.\d (KiB|MiB)$/m);
    expect(d1.stdout).toMatch(/^ {2}frozen\s+[\d.]+ (µs|ms|s) \(freezing /m);
    expect(d1.stdout).toMatch(new RegExp(`^  log\\s+${agent.stateDir}/checkpoints/${running}/dump-[A-Za-z0-9._-]+\\.log$`, 'm'));
    await t.query();

    // The default dump kills it; --json prints the reply.
    const d2 = await cli(['dump', String(t.pid), '--id', dead, '--json'], env);
    expect(d2).toMatchObject({ code: 0, stderr: '' });
    const reply = JSON.parse(d2.stdout) as {
      checkpoint_id: string;
      final_state: string;
      pids: number[];
      size_bytes: string;
      stats: { pages_written: string };
    };
    expect(reply).toMatchObject({ checkpoint_id: dead, final_state: 'FINAL_STATE_DEAD', pids: [...t.allPids] });
    expect(Number(reply.size_bytes)).toBeGreaterThan(0);
    expect(Number(reply.stats.pages_written)).toBeGreaterThan(0);

    // ls: both, oldest first; --json the same list.
    const ls = await cli(['ls'], env);
    expect(ls.code).toBe(0);
    const lines = ls.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+KIND\s+PARENT\s+PID\s+PROCS\s+SIZE\s+LEFT\s+CREATED\s+COMMAND$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 5))).toEqual([
      [running, 'dump', '-', String(t.pid), '3'],
      [dead, 'dump', '-', String(t.pid), '3'],
    ]);
    expect(lines[1]).toContain('RUNNING');
    expect(lines[2]).toContain('DEAD');
    expect(lines[1]).toContain('target.py');
    const lsJson = JSON.parse((await cli(['ls', '--json'], env)).stdout) as { checkpoints: { checkpoint_id: string }[] };
    expect(lsJson.checkpoints.map((c) => c.checkpoint_id)).toEqual([running, dead]);

    // show: the manifest.
    const show = await cli(['show', dead], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^checkpoint ${dead}\\n`));
    expect(show.stdout).toMatch(/^ {2}kind\s+dump$/m);
    expect(show.stdout).toMatch(new RegExp(`^  pid\\s+${t.pid}$`, 'm'));
    expect(show.stdout).toMatch(/^ {2}tree left\s+DEAD$/m);
    expect(show.stdout).toMatch(/^ {2}size\s+\S+ \S+ in \d+ files \(xxh64 digests\)$/m);
    expect(JSON.parse((await cli(['show', dead, '--json'], env)).stdout)).toMatchObject({
      checkpoint_id: dead,
      kind: 'CHECKPOINT_KIND_DUMP',
      pid: t.pid,
    });

    // restore stopped, then continue: the same program, memory intact.
    await waitGone(t);
    const r = await cli(['restore', dead, '--final-state', 'stopped'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^checkpoint ${dead}: restored pid ${t.pid} \\(3 processes\\), tree STOPPED$`, 'm'));
    expect((await waitForTreeStatus(t.pid, 'stopped', 3000)).status).toBe('stopped');
    const c = await cli(['continue', String(t.pid)], env);
    expect(c).toMatchObject({ code: 0, stderr: '' });
    const continued = /^continued ([\d ]+) \(stopped by restore of checkpoint (\S+)\)\n$/.exec(c.stdout);
    expect(continued?.[2]).toBe(dead);
    expect(continued?.[1]?.split(' ').map(Number).sort()).toEqual([...t.allPids].sort());
    const after = await t.query(5000);
    expect(after.mem_sha256_now).toBe(before.mem_sha256_at_start);
    expect(after.counter).toBeGreaterThanOrEqual(before.counter);

    // rm: human and JSON; then nothing is left.
    expect(await cli(['rm', running], env)).toMatchObject({ code: 0, stdout: `deleted ${running}\n` });
    expect(JSON.parse((await cli(['rm', dead, '--json'], env)).stdout)).toEqual({ deleted: [dead] });
    expect(await cli(['ls'], env)).toMatchObject({ code: 0, stdout: 'no checkpoints\n' });
  });

  it('errors: the status name and message on stderr, exit 10 + the gRPC code, the request id', async () => {
    const missing = await cli(['show', 'no-such-checkpoint'], env);
    expect(missing.code).toBe(15); // NOT_FOUND
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(
      /^criu-agent: NOT_FOUND: checkpoint no-such-checkpoint does not exist\n {2}request id: cli-[0-9a-f]{8}\n$/,
    );

    // An id the agent refuses (the CLI checks a pid's range itself, not ids); in the CLI's words: --id, not checkpoint_id.
    const badPid = await cli(['dump', '4194000', '--id', 'bad..id', '--request-id', `cli-test-${process.pid}`], env);
    expect(badPid.code).toBe(13); // INVALID_ARGUMENT
    expect(badPid.stderr).toMatch(/^criu-agent: INVALID_ARGUMENT: --id "bad\.\.id" is not a valid checkpoint id\b/);
    expect(badPid.stderr).toContain(`request id: cli-test-${process.pid}\n`);
    // The agent's log line of that call carries the same id.
    const logged = agent
      .output()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.requestId === `cli-test-${process.pid}` && l.msg === 'Dump failed');
    expect(logged).toMatchObject({ level: 'warn', method: 'Dump', code: 'INVALID_ARGUMENT' });

    const json = await cli(['rm', 'no-such-checkpoint', '--json'], env);
    expect(json.code).toBe(15);
    expect(JSON.parse(json.stdout)).toEqual({
      error: {
        code: 'NOT_FOUND',
        code_number: 5,
        message: 'checkpoint no-such-checkpoint does not exist',
        request_id: expect.any(String) as unknown,
      },
    });

    const t = await startTarget({ children: 0 });
    const notStopped = await cli(['continue', String(t.pid)], env);
    expect(notStopped.code).toBe(19); // FAILED_PRECONDITION
    expect(notStopped.stderr).toMatch(/^criu-agent: FAILED_PRECONDITION: /);
  });

  it('pre-dump: a pre-dump where the kernel tracks memory, FAILED_PRECONDITION (exit 19) where it does not', async () => {
    const { mem_track: memTrack } = JSON.parse((await cli(['check', '--json'], env)).stdout) as { mem_track: boolean };
    const t = await startTarget({ children: 0 });
    const id = newId('pre');
    const r = await cli(['pre-dump', String(t.pid), '--id', id], env);
    if (memTrack) {
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^checkpoint ${id}: pre-dumped pid ${t.pid} \\(1 process\\), tree left RUNNING$`, 'm'));
      expect(await cli(['rm', id], env)).toMatchObject({ code: 0 });
    } else {
      expect(r.code).toBe(19);
      expect(r.stderr).toMatch(/^criu-agent: FAILED_PRECONDITION: PreDump needs kernel memory tracking/);
    }
    await t.query();
  });

  it('Ctrl-C cancels a dump: exit 11 (CANCELLED), the tree left running, no checkpoint', async () => {
    const t = await startTarget({ children: 1, extraMiB: 1024 });
    const id = newId('sigint');
    const child = spawn(process.execPath, [CLI, 'dump', String(t.pid), '--id', id], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Interrupt once CRIU is at work (the checkpoint's temporary directory has its log).
    const checkpoints = path.join(agent.stateDir, 'checkpoints');
    for (let i = 0; i < 500; i++) {
      if (fs.readdirSync(checkpoints).some((n) => n.startsWith(`.tmp-${id}-`) && hasDumpLog(path.join(checkpoints, n))))
        break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGINT');
    expect(await closed).toBe(11);
    expect(stderr).toMatch(/^criu-agent: CANCELLED: .*\n {2}interrupted: the agent stops CRIU and leaves the tree as it was\n/);
    expect((await waitForTreeStatus(t.pid, 'running', 5000)).status).toBe('running');
    await t.query(5000);
    for (let i = 0; i < 200 && fs.readdirSync(checkpoints).some((n) => n.includes(id)); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fs.readdirSync(checkpoints).filter((n) => n.includes(id))).toEqual([]);
  });

  it('a --timeout that passes: DEADLINE_EXCEEDED (exit 14) in plain words, with the request id and what became of the tree', async () => {
    // A pid no process has: whatever reaches the agent touches nothing.
    const r = await cli(['continue', '4194000', '--timeout', '0.000001'], env);
    expect(r.code).toBe(14);
    expect(r.stderr).toMatch(
      /^criu-agent: DEADLINE_EXCEEDED: no reply within --timeout 0\.000001 s\n {2}timed out: the agent stops CRIU and leaves the tree as it was\n {2}request id: cli-[0-9a-f]{8}\n$/,
    );
  });

  it('no agent at the address: UNAVAILABLE (exit 24) with a hint', async () => {
    const r = await cli(['ls', '--address', `unix:${agent.dir}/nobody.sock`], env);
    expect(r.code).toBe(24);
    expect(r.stderr).toMatch(/^criu-agent: UNAVAILABLE: No connection established\. Last error: .*ENOENT [^\n]*nobody\.sock\n/);
    expect(r.stderr).not.toMatch(/note:\s*\n/);
    expect(r.stderr).toContain(`is the agent running and listening on unix:${agent.dir}/nobody.sock?`);
    expect(await cli(['health', '--address', `unix:${agent.dir}/nobody.sock`], env)).toMatchObject({ code: 24 });
  });

  it('usage errors: exit 2 and a pointer to --help, nothing sent', async () => {
    const cases: [string[], RegExp][] = [
      [['dump', '123'], /^criu-agent: dump: --id ID is required/],
      [['dump', 'abc', '--id', 'x'], /^criu-agent: dump: PID must be a process id \(digits\), not "abc"/],
      [['dump', '99999999999', '--id', 'x'], /^criu-agent: dump: PID 99999999999 is not a Linux process id: pids run from 1 to 4194303/],
      [['dump', '123', '--id', 'x', '--bogus'], /^criu-agent: dump: unknown option --bogus\n\(criu-agent dump --help shows the usage\)/],
      [
        ['dump', '123', '--id', 'x', '--final-state', 'asleep'],
        /^criu-agent: dump: --final-state is one of running, stopped, dead, not "asleep"/,
      ],
      [['dump', '123', '--id', 'x', '--manage-cgroups-mode', 'some'], /--manage-cgroups-mode is one of ignore, props, soft, full, strict/],
      [['restore'], /^criu-agent: restore: missing ID/],
      [['restore', 'x', '--final-state', 'dead'], /--final-state is one of running, stopped, not "dead"/],
      [['ls', 'extra'], /^criu-agent: ls: unexpected argument "extra"/],
      [['frobnicate'], /^criu-agent: unknown command "frobnicate"/],
      [['show', 'x', '--address', 'nowhere'], /--address "nowhere" is neither unix:\/path nor host:port/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, env);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(message);
    }
    // --help is not an error.
    const help = await cli(['dump', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: criu-agent dump PID --id ID/);
    expect(help.stdout).toMatch(/^ {2}--tcp-established\s+Dump established TCP connections/m);
    expect(help.stdout).toMatch(/^ {2}--external X \(repeatable\)/m);
  });

  it('CRIU options given as flags are accepted and sent', async () => {
    const t = await startTarget({ children: 0 });
    const id = newId('opts');
    const r = await cli(
      [
        'dump',
        String(t.pid),
        '--id',
        id,
        '--final-state',
        'running',
        '--tcp-established',
        '--file-locks',
        '--ghost-limit',
        '2097152',
        '--manage-cgroups-mode',
        'soft',
        '--json',
      ],
      env,
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect((JSON.parse(r.stdout) as { final_state: string }).final_state).toBe('FINAL_STATE_RUNNING');
    expect(await cli(['rm', id], env)).toMatchObject({ code: 0 });
  });

  it('draws a live progress line (elapsed, bytes written) on a terminal during a dump, and elapsed time during a restore', async () => {
    const t = await startTarget({ children: 0, extraMiB: 512 });
    const id = newId('progress');
    const d = await cliOnTerminal(['dump', String(t.pid), '--id', id], env);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    const label = `dump of pid ${t.pid} into ${id}: `;
    expect(d.stdout).toContain(`\r\x1b[K${label}0.0 s`);
    // At least one redraw while CRIU wrote, with the temporary directory's size.
    expect(d.stdout).toMatch(new RegExp(`\\r\\x1b\\[K${label}\\d+\\.\\d s, \\d+(\\.\\d)? (B|KiB|MiB) written`));
    // Erased before the result is printed.
    expect(d.stdout).toMatch(new RegExp(`\\r\\x1b\\[Kcheckpoint ${id}: dumped pid ${t.pid}`));

    await waitGone(t);
    const r = await cliOnTerminal(['restore', id], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`\r\x1b[Krestore of ${id}: 0.0 s`);
    expect(r.stdout).toMatch(new RegExp(`checkpoint ${id}: restored pid ${t.pid} \\(1 process\\), tree RUNNING`));
    await t.kill();
    await waitGone(t);
    // --no-progress: the result only.
    const quiet = await cliOnTerminal(['restore', id, '--final-state', 'stopped', '--no-progress'], env);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).not.toContain('\x1b[K');
    // Target.kill() only kills once: this restored (stopped) tree is killed here.
    process.kill(t.pid, 'SIGKILL');
    expect(await waitForPidFree(t.pid, 15_000)).toBe(true);
    expect(await cli(['rm', id], env)).toMatchObject({ code: 0 });
  });
});

describe('criu-agent serve: configuration errors stop it at start, exit 2', () => {
  let tmp: string;
  /** Holds a TCP port, so that an agent's metrics listener cannot bind it. */
  let busy: net.Server;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-config-'));
    busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => {
    busy?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it.each<[string, string[], NodeJS.ProcessEnv, RegExp]>([
    ['unknown flag', ['--bogus', '1'], {}, /^criu-agent: unknown option "--bogus"; known options: .*--metrics-listen/],
    ['bad value', ['--log-level', 'loud'], {}, /^criu-agent: flag --log-level: loud is not one of debug, info, warn, error\n/],
    [
      'bad environment value',
      [],
      { CRIU_AGENT_PID_WAIT_MS: 'soon' },
      /^criu-agent: environment variable CRIU_AGENT_PID_WAIT_MS: soon is not a whole number/,
    ],
    ['public TCP', ['--listen', '0.0.0.0:50051'], {}, /plaintext TCP is only allowed on loopback/],
    ['bad metrics address', ['--metrics-listen', '9464'], {}, /^criu-agent: flag --metrics-listen: "9464" is not host:port/],
    ['missing config file', ['--config', '/nonexistent/agent.json'], {}, /^criu-agent: config file \/nonexistent\/agent\.json: ENOENT/],
  ])('%s', async (_name, args, extraEnv, message) => {
    const r = await cli(['serve', ...args], { CRIU_AGENT_LISTEN: `unix:${tmp}/never.sock`, ...extraEnv });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('(criu-agent serve --help shows the usage)');
    expect(fs.existsSync(`${tmp}/never.sock`)).toBe(false);
  });

  it('a config file that is not JSON, or has an unknown setting', async () => {
    fs.writeFileSync(path.join(tmp, 'broken.json'), '{ "stateDir": ');
    fs.writeFileSync(path.join(tmp, 'unknown.json'), JSON.stringify({ stateDir: '/srv', colour: 'blue' }));
    const broken = await cli(['serve', '--config', path.join(tmp, 'broken.json')]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(new RegExp(`^criu-agent: config file ${tmp}/broken\\.json: .*JSON`));
    const unknown = await cli(['config', 'print', '--config', path.join(tmp, 'unknown.json')]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown setting "colour"/);
  });

  it('a config value of the wrong type (stateDir: 5) stops serve with exit 2 naming the key, creating nothing', async () => {
    fs.writeFileSync(path.join(tmp, 'typed.json'), JSON.stringify({ stateDir: 5 }));
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'serve', '--config', path.join(tmp, 'typed.json')], {
        cwd: tmp,
        env: { ...process.env, CRIU_AGENT_LISTEN: `unix:${tmp}/typed.sock` },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.stderr).toMatch(new RegExp(`^criu-agent: config file ${tmp}/typed\\.json: stateDir must be a string, not the number 5`));
    expect(r.code).toBe(2);
    expect(fs.existsSync(path.join(tmp, '5'))).toBe(false);
    expect(fs.existsSync(`${tmp}/typed.sock`)).toBe(false);
  });

  it('an agent that cannot bind its metrics port exits 1 and says why', async () => {
    const r = await cli([
      'serve',
      '--listen',
      `unix:${tmp}/m.sock`,
      '--state-dir',
      `${tmp}/state`,
      '--metrics-listen',
      `127.0.0.1:${(busy.address() as net.AddressInfo).port}`,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/"msg":"criu-agent could not start"/);
    expect(r.stderr).toMatch(/EADDRINUSE/);
    expect(fs.existsSync(`${tmp}/m.sock`)).toBe(false);
  });

  it('config print: the effective settings as JSON, with where each came from', async () => {
    const file = path.join(tmp, 'agent.json');
    fs.writeFileSync(file, JSON.stringify({ pidWaitMs: 1234, logLevel: 'error' }));
    const r = await cli(['config', 'print', '--config', file, '--state-dir', '/srv/criu', '--metrics-listen', '127.0.0.1:9464'], {
      CRIU_AGENT_LOG_LEVEL: 'warn',
    });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(r.stdout) as { configFile: string; settings: Record<string, { value: unknown; source: string }> };
    expect(report.configFile).toBe(file);
    expect(report.settings.stateDir).toMatchObject({ value: '/srv/criu', source: 'flag --state-dir' });
    expect(report.settings.logLevel).toMatchObject({ value: 'warn', source: 'environment variable CRIU_AGENT_LOG_LEVEL' });
    expect(report.settings.pidWaitMs).toMatchObject({ value: 1234, source: `file ${file}: pidWaitMs` });
    expect(report.settings.metricsListen).toMatchObject({ value: '127.0.0.1:9464', source: 'flag --metrics-listen' });
    expect(report.settings.listen).toMatchObject({ value: ['unix:/run/criu-agent/agent.sock'], source: 'default' });
  });
});
