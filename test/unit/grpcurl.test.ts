/**
 * The command-line half of test/helpers/grpcurl.ts, which the README (and
 * docs) tests rely on to read grpcurl commands as a shell and grpcurl would.
 */
import { grpcurlCommands, parseGrpcurl, shellWords } from '../helpers/grpcurl';

describe('shellWords', () => {
  it('splits like a shell: quotes, escapes, variables, comments', () => {
    expect(shellWords(`grpcurl -d '{"a": "$X"}' "x $X \\"q\\"" \${X}y a\\ b # note`, { X: '1' })).toEqual([
      'grpcurl',
      '-d',
      '{"a": "$X"}',
      'x 1 "q"',
      '1y',
      'a b',
    ]);
    expect(shellWords(`-d "{\\"pid\\": $PID}" ''`, { PID: '42' })).toEqual(['-d', '{"pid": 42}', '']);
  });

  it('refuses what it cannot read as a shell would', () => {
    expect(() => shellWords('echo $NOPE')).toThrow('$NOPE is not set');
    expect(() => shellWords("echo 'open")).toThrow("unterminated '");
    expect(() => shellWords('grpcurl a | jq .')).toThrow('shell syntax | is beyond this parser');
  });
});

describe('grpcurlCommands', () => {
  it('reads the sh blocks of Markdown: continuations, assignments, overrides', () => {
    const md = [
      'Text with grpcurl -unix, not code.',
      '```sh',
      'S=unix:///run/a.sock',
      'PID=$(pgrep -o target)',
      '# a comment',
      'grpcurl -plaintext -d \'{"pid": 1}\' \\',
      '  $S pkg.Svc/Do',
      'echo done | tee log',
      'grpcurl -plaintext -d "{\\"pid\\": $PID}" $S pkg.Svc/Do',
      '```',
      '```json',
      'grpcurl -plaintext x list',
      '```',
    ].join('\n');
    const cmds = grpcurlCommands(md, { PID: '7' });
    expect(cmds.map((c) => c.argv)).toEqual([
      ['grpcurl', '-plaintext', '-d', '{"pid": 1}', 'unix:///run/a.sock', 'pkg.Svc/Do'],
      ['grpcurl', '-plaintext', '-d', '{"pid": 7}', 'unix:///run/a.sock', 'pkg.Svc/Do'],
    ]);
    expect(grpcurlCommands(md, { PID: '7', S: 'unix:///tmp/t.sock' })[0]?.argv[4]).toBe('unix:///tmp/t.sock');
    expect(() => grpcurlCommands(md)).toThrow('$PID is not set');
  });
});

describe('parseGrpcurl', () => {
  it('reads calls, list and describe with grpcurl flags', () => {
    expect(parseGrpcurl(['grpcurl', '-plaintext', '-H', 'X-Req: 1', '--rpc-header=b: two', '-d={"x":1}', 'unix:///s', 'p.S/M'])).toEqual({
      address: 'unix:///s',
      plaintext: true,
      tls: {},
      headers: [
        ['x-req', '1'],
        ['b', 'two'],
      ],
      verb: 'call',
      symbol: 'p.S/M',
      data: '{"x":1}',
    });
    expect(parseGrpcurl(['grpcurl', '-plaintext', 'h:1', 'list'])).toMatchObject({ verb: 'list', symbol: undefined });
    expect(parseGrpcurl(['grpcurl', '-plaintext', 'h:1', 'list', 'p.S'])).toMatchObject({ verb: 'list', symbol: 'p.S' });
    expect(
      parseGrpcurl(['grpcurl', '-cacert', 'ca.crt', '-cert', 'c.crt', '-key', 'c.key', '-servername', 'n', 'h:1', 'describe', 'p.M']),
    ).toMatchObject({
      plaintext: false,
      tls: { cacert: 'ca.crt', cert: 'c.crt', key: 'c.key', servername: 'n' },
      verb: 'describe',
      symbol: 'p.M',
    });
  });

  it('refuses -unix, which grpcurl v1.9.3 breaks (grpcurl#496), and what grpcurl refuses', () => {
    expect(() => parseGrpcurl(['grpcurl', '-plaintext', '-unix', '/run/a.sock', 'list'])).toThrow(/grpcurl#496.*unix:\/\/\//);
    expect(() => parseGrpcurl(['grpcurl', '-nope', 'h:1', 'list'])).toThrow('flag provided but not defined: -nope');
    expect(() => parseGrpcurl(['grpcurl', '-plaintext', 'h:1'])).toThrow('no method');
    expect(() => parseGrpcurl(['grpcurl', '-plaintext', '-d', '{}', 'h:1', 'list'])).toThrow('-d is for calls');
    expect(() => parseGrpcurl(['grpcurl', '-plaintext', '-d'])).toThrow('flag needs an argument: -d');
  });
});
