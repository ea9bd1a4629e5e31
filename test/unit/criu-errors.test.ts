import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as os from 'node:os';
import * as path from 'node:path';

import { classifyCriuFailure, errnoName, type CriuOperation } from '../../src/criu/errors';
import { summarizeLog } from '../../src/criu/log';
import type { ErrorKind } from '../../src/errors';

const { ENOSPC, EDQUOT, EPERM, ESRCH, EEXIST } = osConstants.errno;

function classify(op: CriuOperation, errors: string[], errno = 0, tail: string[] = []) {
  return classifyCriuFailure({ op, errno, log: { errors, tail }, logPath: '/state/checkpoints/.tmp-x/dump.log' });
}

// CRIU's own wording (criu/tty.c, criu/sk-unix.c, criu/sk-inet.c, criu/cr-restore.c), as summarizeLog renders it.
const SESSION_LEADER = [
  'A session leader of 4321(4321) is outside of the dump (criu/tty.c:1620)',
  'The root task 4321 is not a session leader. Consider using --shell-job option (criu/cr-dump.c:2000)',
  'Found dangling tty with sid 0 pgid 4321 (pts) on peer fd 0. (criu/tty.c:2035)',
];
const EXTERNAL_SOCKET = [
  'External socket is used. Consider using --ext-unix-sk option. (criu/sk-unix.c:880)',
  "Can't dump half of stream unix connection. (criu/sk-unix.c:893)",
];
const TCP = 'Connected TCP socket, consider using --tcp-established option. (criu/sk-inet.c:140)';
const FORK_EXISTS = "Can't fork for 1234: File exists (criu/cr-restore.c:1471)";

describe('classifyCriuFailure', () => {
  it.each<[string, CriuOperation, string, number, ErrorKind, string]>([
    ...SESSION_LEADER.map((l): [string, CriuOperation, string, number, ErrorKind, string] => [
      l,
      'dump',
      l,
      0,
      'failed-precondition',
      'options.shell_job',
    ]),
    ...SESSION_LEADER.map((l): [string, CriuOperation, string, number, ErrorKind, string] => [
      l,
      'pre-dump',
      l,
      0,
      'failed-precondition',
      'options.shell_job',
    ]),
    ...EXTERNAL_SOCKET.map((l): [string, CriuOperation, string, number, ErrorKind, string] => [
      l,
      'dump',
      l,
      0,
      'failed-precondition',
      'options.external',
    ]),
    ['TCP on dump', 'dump', TCP, 0, 'failed-precondition', 'options.tcp_established'],
    ['TCP on pre-dump', 'pre-dump', TCP, 0, 'failed-precondition', 'options.tcp_established'],
    [
      'no soft-dirty',
      'pre-dump',
      'Dirty memory tracking is not supported (criu/kerndat.c:10)',
      0,
      'failed-precondition',
      'CONFIG_MEM_SOFT_DIRTY',
    ],
    ['fork EEXIST on restore', 'restore', FORK_EXISTS, EEXIST, 'already-exists', 'zombie'],
    [
      'vanished process on dump',
      'dump',
      "Can't read /proc/123/stat: No such process (criu/cr-dump.c:1234)",
      ESRCH,
      'not-found',
      'process exited',
    ],
    ['seize failure on dump', 'dump', 'Unable to seize 123 (criu/seize.c:1)', 0, 'not-found', 'process exited'],
  ])('%s (%s) -> %s', (_name, op, line, errno, kind, hint) => {
    const err = classify(op, [line], errno);
    expect(err.kind).toBe(kind);
    expect(err.message).toContain(hint);
    expect(err.message).toContain(`CRIU said: ${line}`);
  });

  it('a file whose size changed since the dump is a precondition of the caller, named with both sizes and what to do', () => {
    // CRIU 4.2's words (criu/files-reg.c validate_file), path relative to the mount namespace's root.
    const line = 'File tmp/counter.log has bad size 14 (expect 4) (criu/files-reg.c:2245)';
    const err = classify('restore', [line]);
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain('/tmp/counter.log');
    expect(err.message).toMatch(/4 bytes then, 14 now/);
    expect(err.message).toMatch(/Put back the content/);
    expect(err.message).toMatch(/O_APPEND/);
    expect(err.message).toContain(`CRIU said: ${line}`);
    // A dump never reports it; an unrelated restore failure stays internal.
    expect(classify('dump', [line]).kind).toBe('internal');
  });

  it('a file whose mode changed since the dump is a precondition too', () => {
    const err = classify('restore', ['File srv/data has bad mode 0100600 (expect 0100644) (criu/files-reg.c:2270)']);
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toMatch(/\/srv\/data.*0100644 then, 0100600 now/);
  });

  it('uses errno when no rule matches', () => {
    expect(classify('dump', ['write failed (criu/image.c:1)'], ENOSPC).kind).toBe('resource-exhausted');
    expect(classify('restore', ['write failed (criu/image.c:1)'], ENOSPC).kind).toBe('resource-exhausted');
    expect(classify('dump', ['quota (criu/image.c:1)'], EDQUOT).kind).toBe('resource-exhausted');
    expect(classify('dump', ['ptrace (criu/x.c:1)'], EPERM).kind).toBe('permission-denied');
    expect(classify('restore', ['gone (criu/x.c:1)'], ESRCH).kind).toBe('not-found');
    const err = classify('dump', ['write failed (criu/image.c:1)'], ENOSPC);
    expect(err.message).toMatch(/^CRIU dump failed \(ENOSPC\); CRIU said: write failed/);
    expect(err.details.criuErrno).toBe(ENOSPC);
  });

  it('is internal when neither a rule nor errno tells', () => {
    const err = classify('dump', ['Something odd happened (criu/x.c:1)'], 0);
    expect(err.kind).toBe('internal');
    expect(err.message).toBe(
      'CRIU dump failed; CRIU said: Something odd happened (criu/x.c:1); full log: /state/checkpoints/.tmp-x/dump.log',
    );
    expect(err.details).toEqual({ criuErrno: undefined, criuLog: '/state/checkpoints/.tmp-x/dump.log' });
    expect(classify('dump', ['x (criu/x.c:1)'], EEXIST).kind).toBe('internal'); // EEXIST is not in the errno table
  });

  it('a rule wins over errno', () => {
    expect(classify('dump', [EXTERNAL_SOCKET[0] ?? ''], ENOSPC).kind).toBe('failed-precondition');
  });

  it('the first matching rule wins', () => {
    const err = classify('dump', [SESSION_LEADER[0] ?? '', TCP]);
    expect(err.message).toContain('shell_job');
    expect(err.message).not.toContain('tcp_established');
  });

  describe('rules apply only to their operations', () => {
    it('a restore-only rule does not fire on dump or pre-dump', () => {
      for (const op of ['dump', 'pre-dump'] as const) {
        const err = classify(op, [FORK_EXISTS]);
        expect(err.kind).toBe('internal');
        expect(err.message).not.toContain('zombie');
      }
    });

    it('dump rules do not fire on restore', () => {
      for (const line of [...SESSION_LEADER, ...EXTERNAL_SOCKET, TCP]) {
        const err = classify('restore', [line]);
        expect(err.kind).toBe('internal');
      }
      expect(classify('restore', ["Can't read /proc/123/stat: No such process"]).kind).toBe('internal');
    });

    it('no rule fires on check', () => {
      expect(classify('check', [SESSION_LEADER[0] ?? '', FORK_EXISTS]).kind).toBe('internal');
    });
  });

  it('matches the tail when there are no error lines, and quotes the tail then', () => {
    const err = classify('dump', [], 0, ['(00.1) Dumping', `(00.2) Warn: ${TCP}`]);
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain(`CRIU said: (00.1) Dumping | (00.2) Warn: ${TCP}`);
  });

  it('quotes the error lines, not the tail, when there are error lines', () => {
    const err = classify('dump', ['e1 (a.c:1)', 'e2 (b.c:2)'], 0, ['tail line']);
    expect(err.message).toContain('CRIU said: e1 (a.c:1) | e2 (b.c:2)');
    expect(err.message).not.toContain('tail line');
  });

  it("says nothing about CRIU's words or log when there are none", () => {
    const err = classifyCriuFailure({ op: 'restore', errno: 0, log: { errors: [], tail: [] } });
    expect(err.message).toBe('CRIU restore failed');
    expect(err.details).toEqual({ criuErrno: undefined, criuLog: undefined });
  });
});

describe('errnoName', () => {
  it('names known errnos and numbers unknown ones', () => {
    expect(errnoName(ESRCH)).toBe('ESRCH');
    expect(errnoName(ENOSPC)).toBe('ENOSPC');
    expect(errnoName(99999)).toBe('errno 99999');
  });
});

describe('summarizeLog', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'criu-log-test-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('extracts error lines with their source location, leaving out the harmless rlimit one', async () => {
    const file = path.join(tmp, 'dump.log');
    writeFileSync(
      file,
      [
        '(00.000010) Version: 4.2.1',
        "(00.000100) Error (criu/util.c:1520): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
        '',
        '(00.001000) Warn  (criu/x.c:1): only a warning',
        "(00.012345) Error (criu/cr-dump.c:1234): Can't read /proc/123/stat: No such process",
        '(00.012400) Dumping finished with error',
        '',
      ].join('\n'),
    );
    const s = await summarizeLog(file);
    expect(s.errors).toEqual(["Can't read /proc/123/stat: No such process (criu/cr-dump.c:1234)"]);
    expect(s.tail).toHaveLength(5); // blank lines dropped
    expect(s.tail[4]).toBe('(00.012400) Dumping finished with error');
  });

  it('keeps the last maxErrors errors and maxTail lines', async () => {
    const file = path.join(tmp, 'big.log');
    writeFileSync(file, Array.from({ length: 30 }, (_, i) => `(00.${i}) Error (criu/x.c:${i}): e${i}`).join('\n'));
    const s = await summarizeLog(file, 3, 2);
    expect(s.errors).toEqual(['e27 (criu/x.c:27)', 'e28 (criu/x.c:28)', 'e29 (criu/x.c:29)']);
    expect(s.tail).toEqual(['(00.28) Error (criu/x.c:28): e28', '(00.29) Error (criu/x.c:29): e29']);
  });

  it('gives empty lists for a missing log', async () => {
    await expect(summarizeLog(path.join(tmp, 'missing.log'))).resolves.toEqual({ errors: [], tail: [] });
  });
});
