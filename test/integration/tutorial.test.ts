/**
 * docs/tutorial.md, run as printed: every fenced `sh` block and every `# `
 * command of a `console` block, in order, in one bash, against a real agent
 * with real CRIU. What differs from a reader's machine, and only that:
 *  - the agent is started by the test (the tutorial's `npm start` block, which
 *    would also install and build) on a socket and state directory of its own;
 *    the socket path and /tmp/counter.* are mapped into the test's directory
 *    so runs cannot collide;
 *  - `criu-agent` on PATH runs the built dist/cli.js (as `npm link` would),
 *    finding the agent through CRIU_AGENT_ADDRESS;
 *  - `grpcurl` on PATH is test/helpers/grpcurl.ts (grpcurl cannot be
 *    installed here): same command line, reflection only, same exit codes.
 * A console command must end as its printed output says (an output starting
 * with "criu-agent: " is a failure, anything else success), and the first
 * line of its output must match the printed one, numbers aside.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src/paths';
import * as grpc from '@grpc/grpc-js';
import { call, expectStatus, startAgent, type AgentProcess } from '../helpers/agent';
import { CLI, outcome } from '../helpers/cli';
import { writeGrpcurlShim } from '../helpers/grpcurl';

jest.setTimeout(180_000);

const TUTORIAL = path.join(packageRoot, 'docs', 'tutorial.md');

interface Step {
  kind: 'sh' | 'console';
  /** Where it is in the tutorial, for messages. */
  line: number;
  script: string;
  /** console: the output printed under the command. */
  expected?: string;
}

/** The fenced sh blocks and console commands of a markdown text, in order. */
export function tutorialSteps(markdown: string): Step[] {
  const steps: Step[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(sh|console)\s*$/.exec(lines[i] ?? '');
    if (!fence) continue;
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] ?? '');
    if (fence[1] === 'sh') {
      steps.push({ kind: 'sh', line: start, script: body.join('\n') });
      continue;
    }
    // console: "# command" lines, each followed by its output up to the next command or a blank line.
    for (let j = 0; j < body.length; j++) {
      const cmd = /^# (.*)$/.exec(body[j] ?? '');
      if (!cmd) continue;
      const out: string[] = [];
      while (j + 1 < body.length && !(body[j + 1] ?? '').startsWith('# ') && (body[j + 1] ?? '') !== '') out.push(body[++j] ?? '');
      steps.push({ kind: 'console', line: start + j, script: cmd[1] ?? '', expected: out.join('\n') });
    }
  }
  return steps;
}

/** The printed first line as a pattern: numbers, and the spacing of columns, may differ (a number alone, such as an exit code, may not). */
function firstLinePattern(expected: string): RegExp {
  const first = expected.split('\n')[0] ?? '';
  if (/^\d+$/.test(first)) return new RegExp(`^${first}\n`);
  const escaped = first.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp('^' + escaped.replace(/\d+/g, '\\d+').replace(/\s+/g, '\\s+'));
}

describe('docs/tutorial.md', () => {
  let dir: string;
  let agent: AgentProcess | undefined;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tutorial-'));
  });
  afterAll(async () => {
    await agent?.dispose();
    killLeftovers(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs as printed, from the first command to the last', async () => {
    const markdown = fs.readFileSync(TUTORIAL, 'utf8').replaceAll('/run/criu-agent/agent.sock', `${dir}/agent.sock`).replaceAll('/tmp/counter', `${dir}/counter`).replaceAll('/var/lib/criu-agent', `${dir}/state`);
    const steps = tutorialSteps(markdown);
    // The one block the test replaces: it starts the agent itself.
    expect(steps[0]).toMatchObject({ kind: 'sh', script: 'npm start' });
    expect(steps.filter((s) => s.script.includes('grpcurl')).length).toBeGreaterThan(0);

    agent = await startAgent({ dir, serveArgs: ['--listen', `unix:${dir}/agent.sock`, '--state-dir', `${dir}/state`] });
    const bin = path.join(dir, 'bin');
    writeGrpcurlShim(bin);
    fs.writeFileSync(path.join(bin, 'criu-agent'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });

    // One bash for all steps (variables such as $PID carry over); each step's
    // output and status go to files named by its index.
    const parts = ['set -e', '__rc=0'];
    steps.slice(1).forEach((s, n) => {
      const i = n + 1;
      const o = `${dir}/out.${i}`;
      if (s.kind === 'sh') parts.push(`{\n${s.script}\n} > ${o} 2>&1\necho 0 > ${dir}/rc.${i}`);
      // $? of the previous console command is kept for an `echo $?` step.
      else parts.push(`set +e\n(exit $__rc)\n${s.script} > ${o} 2>&1\n__rc=$?\necho $__rc > ${dir}/rc.${i}\nset -e`);
    });
    // Background jobs (tail -f) would hold the output open.
    parts.unshift(`trap 'kill $(jobs -p) 2>/dev/null' EXIT`);
    fs.writeFileSync(path.join(dir, 'tutorial.sh'), parts.join('\n') + '\n');
    const run = await outcome(
      spawn('bash', [path.join(dir, 'tutorial.sh')], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, CRIU_AGENT_ADDRESS: `unix:${dir}/agent.sock` },
      }),
    );

    const read = (f: string): string | undefined => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : undefined);
    const report: string[] = [];
    steps.slice(1).forEach((s, n) => {
      const i = n + 1;
      const rc = read(`rc.${i}`);
      const out = read(`out.${i}`) ?? '';
      const where = `tutorial.md:${s.line}: ${s.script.split('\n').find((l) => l.trim() && !l.startsWith('#')) ?? s.script}`;
      if (report.length) return;
      if (rc === undefined) {
        report.push(`${where}\n  did not finish (bash exited ${run.code}); its output:\n${out}${run.stderr}`);
        return;
      }
      if (s.kind === 'console') {
        const expected = s.expected ?? '';
        const shouldFail = expected.startsWith('criu-agent: ');
        if (shouldFail !== (Number(rc) !== 0)) report.push(`${where}\n  exit ${rc.trim()}, but the tutorial shows ${shouldFail ? 'a failure' : 'success'}:\n${out}`);
        else if (expected && !firstLinePattern(expected).test(out)) report.push(`${where}\n  printed:\n${out}\n  the tutorial shows:\n${expected}`);
        // The paths shown (images, logs) are the ones the program uses, request ids aside.
        for (const line of expected.split('\n').filter((l) => /^ {2}(log|images) /.test(l))) {
          const pattern = new RegExp('^' + line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/cli-[0-9a-f]{8}/g, 'cli-[0-9a-f]{8}').replace(/\s+/g, '\\s+') + '$', 'm');
          if (!pattern.test(out)) report.push(`${where}\n  printed:\n${out}\n  but the tutorial shows the line:\n${line}`);
        }
      }
    });
    expect(report).toEqual([]);
    expect(run.code).toBe(0);
    // The grpcurl part ended with its counter restored and then killed: nothing of the tutorial is left running.
    expect(read(`out.${steps.length - 1}`)).toBeDefined();
  });
});

describe('why the tutorial opens its log with >>', () => {
  let agent: AgentProcess | undefined;
  let pid = 0;
  afterAll(async () => {
    try {
      if (pid > 0) process.kill(pid, 'SIGKILL');
    } catch {
      // killed by the test already
    }
    await agent?.dispose();
  });

  it('a file the tree holds open (not for appending) that grew after the dump: Restore is FAILED_PRECONDITION naming it, both sizes, and what to do', async () => {
    agent = await startAgent();
    const dir = agent.dir;
    const file = path.join(dir, 'counter.out');
    // stdout opened with ">" (O_WRONLY|O_TRUNC): CRIU records its size at the dump.
    const started = await outcome(spawn('sh', ['-c', `setsid -f sh -c 'echo $$; exec sleep 600 > ${file} 2>&1 < /dev/null'`], { stdio: ['ignore', 'pipe', 'pipe'] }));
    pid = Number(started.stdout.trim());
    expect(pid).toBeGreaterThan(1);
    fs.writeFileSync(file, 'tick\n');
    await call(agent.client, 'Dump', { pid, checkpoint_id: 'grew', final_state: 'FINAL_STATE_RUNNING' });
    fs.appendFileSync(file, 'more\n');
    process.kill(pid, 'SIGKILL');
    const err = await expectStatus(call(agent.client, 'Restore', { checkpoint_id: 'grew' }), grpc.status.FAILED_PRECONDITION);
    expect(err.details).toContain(`the file ${file}`);
    expect(err.details).toMatch(/5 bytes then, 10 now/);
    expect(err.details).toMatch(/Put back the content/);
    // Put back as it was, the same checkpoint restores.
    fs.writeFileSync(file, 'tick\n');
    const restored = await call<{ pid: number }>(agent.client, 'Restore', { checkpoint_id: 'grew' });
    expect(restored.pid).toBe(pid);
    process.kill(pid, 'SIGKILL');
  });
});

/** Kills processes the tutorial started (their command line names the test's directory). */
function killLeftovers(dir: string): void {
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(`${dir}/counter`)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}
