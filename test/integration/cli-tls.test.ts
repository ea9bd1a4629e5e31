/**
 * The `criu-agent` CLI over TLS: the built dist/cli.js against a real agent
 * serving mTLS with a policy on 127.0.0.1 (besides its unix socket), with
 * certificates made here by openssl. The TLS options as flags and as
 * environment variables, the hint printed for each way a TLS connection
 * fails, the command lines refused before anything is sent, and a policy
 * refusal reaching the user.
 */
import * as fs from 'node:fs';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { CertDir } from '../helpers/certs';
import { cli, type Run } from '../helpers/cli';

jest.setTimeout(120_000);

let certs: CertDir;
let agent: AgentProcess;
/** 127.0.0.1:PORT of the agent's mTLS listener; its certificate names only DNS:localhost. */
let address: string;
const p = (name: string): string => certs.path(name);

/** The flags of a client trusting the agent's CA, presenting certificate `who`, checking the agent's certificate for localhost. */
const tlsFlags = (who: string): string[] => [
  '--address', address, '--tls-ca', p('ca.pem'), '--tls-cert', p(`${who}.pem`), '--tls-key', p(`${who}.key`), '--tls-server-name', 'localhost',
];

/** The first line (status and message) and the hint line of a failure on stderr. */
function failure(r: Run): { code: number | null; status: string; hint: string } {
  const [status = '', hint = ''] = r.stderr.split('\n');
  return { code: r.code, status, hint: hint.trim() };
}

beforeAll(async () => {
  certs = new CertDir('criu-agent-cli-tls-');
  certs.makeCa('ca');
  certs.makeCa('other-ca');
  // Only a DNS name: dialing 127.0.0.1 works only with --tls-server-name localhost.
  certs.makeCert('server', 'ca', 'criu-agent', 'DNS:localhost', 'serverAuth');
  certs.makeCert('operator', 'ca', 'operator', 'URI:spiffe://cluster/operator', 'clientAuth');
  certs.makeCert('reader', 'ca', 'reader', 'URI:spiffe://cluster/reader', 'clientAuth');
  certs.makeCert('stranger', 'other-ca', 'operator', 'URI:spiffe://cluster/operator', 'clientAuth');
  fs.writeFileSync(p('junk.pem'), 'not a certificate\n');
  fs.writeFileSync(
    p('policy.json'),
    JSON.stringify({
      roles: { reader: ['Check', 'ListCheckpoints', 'GetCheckpoint'], operator: ['*'] },
      bindings: [
        { identity: 'spiffe://cluster/operator', role: 'operator' },
        { identity: 'spiffe://cluster/reader', role: 'reader' },
      ],
    }),
  );
  agent = await startAgent({
    args: ['--listen', '127.0.0.1:0', '--tls-cert', p('server.pem'), '--tls-key', p('server.key'), '--tls-client-ca', p('ca.pem'), '--policy', p('policy.json')],
  });
  address = agent.tcpAddress();
});

afterAll(async () => {
  await agent?.dispose();
  certs?.remove();
});

describe('criu-agent CLI over mTLS', () => {
  it('health and check with --tls-ca, --tls-cert, --tls-key and --tls-server-name', async () => {
    expect(await cli(['health', ...tlsFlags('operator')])).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });
    const check = await cli(['check', ...tlsFlags('operator')]);
    expect(check).toMatchObject({ code: 0, stderr: '' });
    expect(check.stdout).toMatch(/^criu\s+\d+\.\d+/m);
  });

  it('health and check with the CRIU_AGENT_CLIENT_TLS_* variables; a flag wins over its variable', async () => {
    const env = {
      CRIU_AGENT_ADDRESS: address,
      CRIU_AGENT_CLIENT_TLS_CA: p('ca.pem'),
      CRIU_AGENT_CLIENT_TLS_CERT: p('reader.pem'),
      CRIU_AGENT_CLIENT_TLS_KEY: p('reader.key'),
      CRIU_AGENT_CLIENT_TLS_SERVER_NAME: 'localhost',
    };
    expect(await cli(['health'], env)).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });
    const check = await cli(['check'], env);
    expect(check).toMatchObject({ code: 0, stderr: '' });
    expect(check.stdout).toMatch(/^criu\s+\d+\.\d+/m);
    // The reader may not delete (17); as the operator named by the flags the call gets through to the store (15: no such checkpoint).
    expect((await cli(['rm', 'no-such-checkpoint'], env)).code).toBe(17);
    const asOperator = await cli(['rm', 'no-such-checkpoint', '--tls-cert', p('operator.pem'), '--tls-key', p('operator.key')], env);
    expect(failure(asOperator)).toMatchObject({ code: 15, status: expect.stringMatching(/^criu-agent: NOT_FOUND: /) as unknown });
  });

  it('a reader identity may list but not delete: exit 17 (PERMISSION_DENIED) with the agent\'s message', async () => {
    expect(await cli(['ls', ...tlsFlags('reader')])).toMatchObject({ code: 0, stderr: '' });
    const rm = await cli(['rm', 'X', ...tlsFlags('reader')]);
    expect(rm.code).toBe(17);
    expect(rm.stdout).toBe('');
    expect(rm.stderr).toMatch(
      /^criu-agent: PERMISSION_DENIED: identity spiffe:\/\/cluster\/reader may not call DeleteCheckpoint; allowed: Check, GetCheckpoint, ListCheckpoints\n/,
    );
  });
});

describe('TLS connections that fail: exit 24 (UNAVAILABLE) with what to change', () => {
  it('without a client certificate: add --tls-cert and --tls-key', async () => {
    const r = await cli(['check', '--address', address, '--tls-ca', p('ca.pem'), '--tls-server-name', 'localhost']);
    expect(failure(r)).toEqual({
      code: 24,
      status: expect.stringMatching(/^criu-agent: UNAVAILABLE: .*certificate required/) as unknown,
      hint: 'the agent requires a client certificate (mTLS): add --tls-cert FILE and --tls-key FILE, a certificate signed by the CA of its --tls-client-ca',
    });
  });

  it('with a client certificate of another CA: the agent did not accept it', async () => {
    const r = await cli(['check', '--address', address, '--tls-ca', p('ca.pem'), '--tls-server-name', 'localhost',
      '--tls-cert', p('stranger.pem'), '--tls-key', p('stranger.key')]);
    expect(failure(r)).toMatchObject({ code: 24, status: expect.stringMatching(/^criu-agent: UNAVAILABLE: /) as unknown });
    expect(failure(r).hint).toBe(
      `the agent closed the connection after the TLS handshake: it did not accept the client certificate ${p('stranger.pem')} (it must be signed by the CA of the agent's --tls-client-ca, for clientAuth)`,
    );
  });

  it("trusting another CA, or the system's roots: name the CA that signed the agent's certificate", async () => {
    const wrong = await cli(['health', ...tlsFlags('operator'), '--tls-ca', p('other-ca.pem')]);
    expect(failure(wrong)).toEqual({
      code: 24,
      status: expect.stringMatching(/^criu-agent: UNAVAILABLE: .*certificate/) as unknown,
      hint: `the agent's certificate is not signed by a CA in ${p('other-ca.pem')} (--tls-ca): name the CA that signed it`,
    });
    const system = await cli(['health', '--address', address, '--tls-server-name', 'localhost', '--tls-cert', p('operator.pem'), '--tls-key', p('operator.key')]);
    expect(failure(system)).toMatchObject({
      code: 24,
      hint: "the agent's certificate is not signed by a CA of the system's roots: add --tls-ca FILE, the CA that signed it",
    });
  });

  it('dialing 127.0.0.1 without --tls-server-name (the certificate names localhost): add it; no warning from Node', async () => {
    const flags = tlsFlags('operator');
    const r = await cli(['health', ...flags.slice(0, flags.indexOf('--tls-server-name'))]);
    expect(failure(r)).toEqual({
      code: 24,
      status: expect.stringMatching(/^criu-agent: UNAVAILABLE: .*IP: 127\.0\.0\.1 is not in the cert's list/) as unknown,
      hint: "the agent's certificate is not issued for 127.0.0.1: add --tls-server-name with a name it carries (a DNS or IP subjectAltName), or dial that name",
    });
    expect(r.stderr).not.toMatch(/Warning/);
  });

  it('plaintext (no TLS option) to the TLS port: add --tls-ca', async () => {
    const r = await cli(['check', '--address', address]);
    expect(failure(r)).toEqual({
      code: 24,
      status: expect.stringMatching(/^criu-agent: UNAVAILABLE: /) as unknown,
      hint: `${address} took the connection but did not answer plaintext gRPC: if the agent serves TLS there, add --tls-ca FILE (and --tls-cert and --tls-key when it requires client certificates)`,
    });
  });

  it('TLS to a plaintext port: drop the TLS options', async () => {
    const plain = await startAgent({ args: ['--listen', '127.0.0.1:0'] });
    try {
      const plainAddress = plain.tcpAddress();
      expect(await cli(['health', '--address', plainAddress])).toMatchObject({ code: 0, stdout: 'SERVING\n' });
      const r = await cli(['health', ...tlsFlags('operator'), '--address', plainAddress]);
      expect(failure(r)).toEqual({
        code: 24,
        status: expect.stringMatching(/^criu-agent: UNAVAILABLE: .*wrong version number/) as unknown,
        hint: `the agent does not serve TLS at ${plainAddress} (plaintext TCP, loopback only): drop the --tls-* options and CRIU_AGENT_CLIENT_TLS_* variables`,
      });
    } finally {
      await plain.dispose();
    }
  });
});

describe('TLS options refused before anything is sent: exit 2', () => {
  /** Exit 2, nothing on stdout, and on stderr `message` (a string: exactly) and the pointer to the command's --help. */
  const usage = (r: Run, message: string | RegExp, command = 'check'): void => {
    const [first = '', ...rest] = r.stderr.split('\n');
    expect({ code: r.code, stdout: r.stdout, rest }).toEqual({ code: 2, stdout: '', rest: [`(criu-agent ${command} --help shows the usage)`, ''] });
    if (typeof message === 'string') expect(first).toBe(`criu-agent: ${message}`);
    else expect(first.replace(/^criu-agent: /, '')).toMatch(message);
  };
  const literal = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('a client certificate without its key, or a key without its certificate', async () => {
    usage(
      await cli(['check', '--address', address, '--tls-ca', p('ca.pem'), '--tls-cert', p('operator.pem')]),
      '--tls-cert needs --tls-key FILE (or CRIU_AGENT_CLIENT_TLS_KEY) too: the client certificate\'s private key',
    );
    usage(
      await cli(['health', '--address', address, '--tls-key', p('operator.key')]),
      '--tls-key needs --tls-cert FILE (or CRIU_AGENT_CLIENT_TLS_CERT) too: the certificate of that key',
      'health',
    );
    usage(
      await cli(['check', '--address', address], { CRIU_AGENT_CLIENT_TLS_CERT: p('operator.pem') }),
      'environment variable CRIU_AGENT_CLIENT_TLS_CERT needs --tls-key FILE (or CRIU_AGENT_CLIENT_TLS_KEY) too: the client certificate\'s private key',
    );
  });

  it('TLS options with a unix socket address', async () => {
    const tail = 'TLS applies to host:port addresses; the unix socket is protected by its file mode';
    usage(
      await cli(['check', '--address', `unix:${agent.socket}`, '--tls-ca', p('ca.pem')]),
      `--tls-ca asks for TLS, but the agent's address is unix:${agent.socket}: ${tail}`,
    );
    usage(
      await cli(['health'], { CRIU_AGENT_ADDRESS: agent.socket, CRIU_AGENT_CLIENT_TLS_SERVER_NAME: 'localhost' }),
      `environment variable CRIU_AGENT_CLIENT_TLS_SERVER_NAME asks for TLS, but the agent's address is unix:${agent.socket}: ${tail}`,
      'health',
    );
  });

  it('a file that cannot be read, is not a certificate, or a key that is not the certificate\'s', async () => {
    usage(
      await cli(['check', '--address', address, '--tls-ca', p('missing.pem')]),
      `--tls-ca ${p('missing.pem')}: cannot read it (ENOENT)`,
    );
    usage(
      await cli(['check', '--address', address, '--tls-ca', p('junk.pem')]),
      new RegExp(`^--tls-ca ${literal(p('junk.pem'))}: not a PEM certificate \\(`),
    );
    usage(
      await cli(['check', '--address', address, '--tls-cert', p('operator.pem'), '--tls-key', p('reader.key')]),
      new RegExp(`^--tls-key ${literal(p('reader.key'))}: not the private key of --tls-cert ${literal(p('operator.pem'))} \\(.*key values mismatch\\)$`),
    );
  });
});
