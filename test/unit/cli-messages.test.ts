/**
 * What the CLI prints when a call fails, in the caller's terms: grpc-js's
 * internal texts replaced (deadline, empty "Resolution note:"), API field
 * names said as flags, and the pid range said where a pid is refused; the
 * progress line saying once why it shows no bytes.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXIT, UsageError, pidArg } from '../../src/cli/args';
import { CallFailure } from '../../src/cli/client';
import { inCliTerms, reportFailure, type Io } from '../../src/cli/commands';
import { startProgress } from '../../src/cli/progress';

function io(): Io & { errText(): string; outText(): string } {
  let err = '';
  let out = '';
  return {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stderrIsTTY: false,
    stderr: process.stderr,
    env: {},
    errText: () => err,
    outText: () => out,
  };
}

function failure(code: grpc.status, details: string, requestId?: string, answered = requestId !== undefined): CallFailure {
  const e: grpc.ServiceError = Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata: new grpc.Metadata() });
  return new CallFailure(e, requestId, answered);
}

const UNIX = { address: 'unix:/run/criu-agent/agent.sock' };

describe('reportFailure', () => {
  it("a deadline that passed in the client: no grpc-js internals, the request id, and the tree's fate", () => {
    // grpc-js 1.14's own text for a client-side deadline.
    const text = 'Deadline exceeded after 0.499s,name resolution: 0.006s,metadata filters: 0.000s,LB pick: 0.001s,remote_addr=unix:/x.sock';
    const i = io();
    const code = reportFailure(i, false, failure(grpc.status.DEADLINE_EXCEEDED, text, 'cli-0a1b2c3d', false), UNIX, { timeoutSeconds: 0.5, command: 'dump' });
    expect(code).toBe(EXIT.STATUS_BASE + grpc.status.DEADLINE_EXCEEDED);
    expect(i.errText()).toBe(
      'criu-agent: DEADLINE_EXCEEDED: no reply within --timeout 0.5 s\n' +
        '  timed out: the agent stops CRIU and leaves the tree as it was\n' +
        '  request id: cli-0a1b2c3d\n',
    );
  });

  it('a deadline on ls: the same words, without the tree line (ls touches no tree)', () => {
    const i = io();
    reportFailure(i, false, failure(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded after 2.000s,LB pick: 0.001s', 'cli-1', false), UNIX, { timeoutSeconds: 2, command: 'ls' });
    expect(i.errText()).toBe('criu-agent: DEADLINE_EXCEEDED: no reply within --timeout 2 s\n  request id: cli-1\n');
  });

  it('no connection: no empty "Resolution note:" fragment, and no request id the agent never saw', () => {
    const text = 'No connection established. Last error: Error: connect ENOENT /run/criu-agent/agent.sock. Resolution note: ';
    const i = io();
    reportFailure(i, false, failure(grpc.status.UNAVAILABLE, text, 'cli-2', false), UNIX, { command: 'ls' });
    const first = i.errText().split('\n')[0];
    expect(first).toBe('criu-agent: UNAVAILABLE: No connection established. Last error: Error: connect ENOENT /run/criu-agent/agent.sock');
    expect(i.errText()).not.toMatch(/note:|request id/);
  });

  it("a non-empty note is kept", () => {
    const i = io();
    reportFailure(i, false, failure(grpc.status.UNAVAILABLE, 'No connection established. Resolution note: DNS failed for host', 'cli-3', false), UNIX, {});
    expect(i.errText()).toContain('Resolution note: DNS failed for host');
  });

  it("the agent's API field names are said as the command's flags", () => {
    const i = io();
    const msg =
      'CRIU dump failed; the tree is not a session of its own: set options.shell_job, or name each socket in options.external; ' +
      'established TCP connections: options.tcp_established; parent_checkpoint_id must name another checkpoint than checkpoint_id';
    reportFailure(i, true, failure(grpc.status.FAILED_PRECONDITION, msg, 'abc-1'), UNIX, { command: 'dump' });
    const line = i.errText().split('\n')[0] ?? '';
    expect(line).toContain('set --shell-job');
    expect(line).toContain('in --external');
    expect(line).toContain('connections: --tcp-established');
    expect(line).toContain('--parent must name another checkpoint than --id');
    expect(line).not.toMatch(/options\.|_id\b/);
    // --json is for scripts: the agent's message as it was.
    expect((JSON.parse(i.outText()) as { error: { message: string } }).error.message).toBe(msg);
  });
});

describe('inCliTerms', () => {
  it('leaves names alone that the command has no flag for', () => {
    expect(inCliTerms('set options.shell_job', 'restore')).toBe('set --shell-job');
    expect(inCliTerms('set options.no_such_option', 'dump')).toBe('set options.no_such_option');
    expect(inCliTerms('bad checkpoint_id', 'restore')).toBe('bad checkpoint_id');
    expect(inCliTerms('set options.shell_job', undefined)).toBe('set options.shell_job');
  });
});

describe('pidArg', () => {
  it('says the range of pids, not "digits", for digits out of range', () => {
    expect(() => pidArg('dump', '99999999999')).toThrow(UsageError);
    expect(() => pidArg('dump', '99999999999')).toThrow(/PID 99999999999 is not a Linux process id: pids run from 1 to 4194303/);
    expect(() => pidArg('dump', '0')).toThrow(/pids run from 1 to 4194303/);
    expect(() => pidArg('dump', '4194304')).toThrow(/pids run from 1/);
    expect(() => pidArg('dump', 'abc')).toThrow(/PID must be a process id \(digits\), not "abc"/);
    expect(pidArg('dump', '4194303')).toBe(4194303);
  });
});

describe('progress line', () => {
  function capture(): NodeJS.WritableStream & { text: string } {
    const s = { text: '', write: (t: string) => ((s.text += t), true) };
    return s as unknown as NodeJS.WritableStream & { text: string };
  }

  it('says once why it shows no bytes when the state directory is not here', async () => {
    const stream = capture();
    const p = startProgress({ label: 'dump of pid 1 into x', stream, stateDir: '/nonexistent/state', checkpointId: 'x' });
    await new Promise((r) => setTimeout(r, 700));
    p.stop();
    const notes = stream.text.split('bytes written not shown').length - 1;
    expect(notes).toBe(1);
    expect(stream.text).toContain('bytes written not shown: there is no /nonexistent/state/checkpoints on this machine; --state-dir DIR');
  });

  it('says nothing of the kind when it can watch the state directory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'progress-'));
    fs.mkdirSync(path.join(dir, 'checkpoints'));
    fs.mkdirSync(path.join(dir, 'checkpoints', '.tmp-x-0123abcd'));
    fs.writeFileSync(path.join(dir, 'checkpoints', '.tmp-x-0123abcd', 'pages-1.img'), Buffer.alloc(2048));
    const stream = capture();
    const p = startProgress({ label: 'dump of pid 1 into x', stream, stateDir: dir, checkpointId: 'x' });
    await new Promise((r) => setTimeout(r, 700));
    p.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    expect(stream.text).not.toContain('not shown');
    expect(stream.text).toMatch(/2(\.0)? KiB written/);
  });
});
