/** test/helpers/grpcurl.ts reads grpcurl's command line as grpcurl v1.9.3 does (the docs' examples run through it). */
import { GrpcurlUsageError, grpcurl, parseGrpcurlArgs } from '../helpers/grpcurl-shim';

describe('parseGrpcurlArgs', () => {
  it('reads flags, the address and the method of a call', () => {
    expect(parseGrpcurlArgs(['-plaintext', '-d', '{"pid": 1}', 'unix:///run/x.sock', 'criu_agent.v1.CheckpointAgent/Dump'])).toMatchObject({
      plaintext: true,
      data: '{"pid": 1}',
      address: 'unix:///run/x.sock',
      verb: 'call',
      symbol: 'criu_agent.v1.CheckpointAgent/Dump',
    });
    expect(
      parseGrpcurlArgs(['-cacert', 'ca.crt', '-cert', 'c.crt', '-key', 'c.key', '-servername', 'node-7.example', '10.0.0.7:50051', 'list']),
    ).toMatchObject({ plaintext: false, cacert: 'ca.crt', cert: 'c.crt', key: 'c.key', serverName: 'node-7.example', verb: 'list' });
    expect(parseGrpcurlArgs(['--plaintext', 'h:1', 'describe', 'criu_agent.v1.DumpRequest'])).toMatchObject({ verb: 'describe', symbol: 'criu_agent.v1.DumpRequest' });
  });

  it('refuses -unix, broken in grpcurl v1.9.3, naming the address form that works', () => {
    expect(() => parseGrpcurlArgs(['-plaintext', '-unix', '/run/x.sock', 'list'])).toThrow(GrpcurlUsageError);
    expect(() => parseGrpcurlArgs(['-plaintext', '-unix', '/run/x.sock', 'list'])).toThrow(/grpcurl#496.*unix:\/\/\/path/);
  });

  it('exits 2 on usage errors, as grpcurl does', async () => {
    expect(await grpcurl(['-plaintext'])).toMatchObject({ code: 2 });
    expect(await grpcurl(['-bogus', 'h:1', 'list'])).toMatchObject({ code: 2 });
  });
});
