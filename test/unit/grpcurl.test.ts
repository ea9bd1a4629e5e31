/**
 * The command-line half of test/helpers/grpcurl.ts, which the README,
 * tutorial and reflection tests rely on: grpcurl commands read out of
 * Markdown as a shell would, and grpcurl v1.9.3's own command line (flags,
 * its checks, exit 2 for a usage mistake).
 */
import { GrpcurlUsageError, grpcurl, grpcurlCommands, parseGrpcurl, shellWords } from '../helpers/grpcurl';

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
    expect(cmds.map((c) => c.args)).toEqual([
      ['-plaintext', '-d', '{"pid": 1}', 'unix:///run/a.sock', 'pkg.Svc/Do'],
      ['-plaintext', '-d', '{"pid": 7}', 'unix:///run/a.sock', 'pkg.Svc/Do'],
    ]);
    expect(cmds[1]?.text).toBe('grpcurl -plaintext -d "{\\"pid\\": $PID}" $S pkg.Svc/Do');
    expect(grpcurlCommands(md, { PID: '7', S: 'unix:///tmp/t.sock' })[0]?.args[3]).toBe('unix:///tmp/t.sock');
    expect(() => grpcurlCommands(md)).toThrow('$PID is not set');
  });
});

describe('parseGrpcurl', () => {
  it('reads calls, list and describe with grpcurl flags', () => {
    expect(parseGrpcurl(['-plaintext', '-H', 'X-Req: 1', '--rpc-header=b: two', '-d={"x":1}', 'unix:///s', 'p.S/M'])).toEqual({
      address: 'unix:///s',
      plaintext: true,
      tls: {},
      headers: [['x-req', '1']],
      rpcHeaders: [['b', 'two']],
      emitDefaults: false,
      allowUnknownFields: false,
      verbose: false,
      verb: 'call',
      symbol: 'p.S/M',
      data: '{"x":1}',
    });
    expect(parseGrpcurl(['-plaintext', '-d', '{"pid": 1}', 'unix:///run/x.sock', 'criu_agent.v1.CheckpointAgent/Dump'])).toMatchObject({
      plaintext: true,
      data: '{"pid": 1}',
      address: 'unix:///run/x.sock',
      verb: 'call',
      symbol: 'criu_agent.v1.CheckpointAgent/Dump',
    });
    expect(parseGrpcurl(['-plaintext', 'h:1', 'list'])).toMatchObject({ verb: 'list', symbol: undefined });
    expect(parseGrpcurl(['-plaintext', 'h:1', 'list', 'p.S'])).toMatchObject({ verb: 'list', symbol: 'p.S' });
    expect(parseGrpcurl(['--plaintext', 'h:1', 'describe', 'criu_agent.v1.DumpRequest'])).toMatchObject({
      verb: 'describe',
      symbol: 'criu_agent.v1.DumpRequest',
    });
    expect(
      parseGrpcurl(['-cacert', 'ca.crt', '-cert', 'c.crt', '-key', 'c.key', '-servername', 'n', 'h:1', 'describe', 'p.M']),
    ).toMatchObject({
      plaintext: false,
      tls: { cacert: 'ca.crt', cert: 'c.crt', key: 'c.key', servername: 'n' },
      verb: 'describe',
      symbol: 'p.M',
    });
    expect(
      parseGrpcurl(['-cacert', 'ca.crt', '-cert', 'c.crt', '-key', 'c.key', '-servername', 'node-7.example', '10.0.0.7:50051', 'list']),
    ).toMatchObject({
      plaintext: false,
      address: '10.0.0.7:50051',
      tls: { cacert: 'ca.crt', servername: 'node-7.example' },
      verb: 'list',
    });
  });

  it('reads the other flags the docs may use, with the Go flag rules for booleans and "--"', () => {
    expect(
      parseGrpcurl(['-plaintext=false', '-cacert', 'ca.crt', '-v', '-emit-defaults', '-max-time', '2.5', 'h:1', 'p.S/M']),
    ).toMatchObject({
      plaintext: false,
      verbose: true,
      emitDefaults: true,
      maxTimeSeconds: 2.5,
    });
    expect(parseGrpcurl(['-plaintext', '-allow-unknown-fields=1', '-format=json', '--', 'h:1', 'p.S.M'])).toMatchObject({
      allowUnknownFields: true,
      address: 'h:1',
      symbol: 'p.S.M',
    });
    expect(() => parseGrpcurl(['-plaintext=yes', 'h:1', 'list'])).toThrow('invalid boolean value "yes" for -plaintext');
  });

  it('refuses -unix, which grpcurl v1.9.3 breaks (grpcurl#496), naming the address form that works', () => {
    expect(() => parseGrpcurl(['-plaintext', '-unix', '/run/a.sock', 'list'])).toThrow(GrpcurlUsageError);
    expect(() => parseGrpcurl(['-plaintext', '-unix', '/run/a.sock', 'list'])).toThrow(/grpcurl#496.*unix:\/\/\//);
  });

  it('refuses what grpcurl refuses, and what it would ignore or is not emulated', () => {
    expect(() => parseGrpcurl(['-nope', 'h:1', 'list'])).toThrow('flag provided but not defined: -nope');
    expect(() => parseGrpcurl(['-insecure', 'h:1', 'list'])).toThrow('-insecure is a grpcurl flag this emulation does not handle');
    expect(() => parseGrpcurl(['-plaintext', 'h:1'])).toThrow('no method');
    expect(() => parseGrpcurl(['-plaintext', 'list'])).toThrow('No host:port specified.');
    expect(() => parseGrpcurl(['-plaintext', 'h:1', 'p.S/M', 'extra'])).toThrow('Too many arguments');
    expect(() => parseGrpcurl(['-plaintext', '-d', '{}', 'h:1', 'list'])).toThrow('-d is for calls');
    expect(() => parseGrpcurl(['-plaintext', '-d'])).toThrow('flag needs an argument: -d');
    expect(() => parseGrpcurl(['-plaintext', '-cert', 'c.crt', '-key', 'c.key', 'h:1', 'list'])).toThrow(
      'The -cert argument can only be used with TLS.',
    );
    expect(() => parseGrpcurl(['-cert', 'c.crt', 'h:1', 'list'])).toThrow('The -cert and -key arguments must be used together');
    expect(() => parseGrpcurl(['-plaintext', '-format', 'text', 'h:1', 'list'])).toThrow('only -format json is emulated');
    expect(() => parseGrpcurl(['-plaintext', '-H', 'no colon', 'h:1', 'list'])).toThrow('expected "name: value"');
  });
});

describe('grpcurl', () => {
  it('exits 2 on usage errors, as grpcurl does, saying why on stderr', async () => {
    expect(await grpcurl(['-plaintext'])).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(/^Too few arguments/) as unknown,
    });
    expect(await grpcurl(['-bogus', 'h:1', 'list'])).toMatchObject({ code: 2, stderr: expect.stringContaining('-bogus') as unknown });
  });
});
