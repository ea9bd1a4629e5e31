/**
 * How the source agent dials a Migrate destination (src/peer/grpc.ts,
 * peerCredentials): unix sockets in plaintext, TCP over TLS whenever a peer
 * TLS file is configured, plaintext TCP only to loopback, and a refusal that
 * names the flags for any other destination.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentError } from '../../src/errors';
import { peerCredentials } from '../../src/peer/grpc';

let tmp: string;
const p = (name: string): string => path.join(tmp, name);

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'peer-test-'));
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=ca', '-keyout', p('ca.key'), '-out', p('ca.pem'));
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=me', '-keyout', p('me.key'), '-out', p('me.pem'));
  writeFileSync(p('empty.pem'), '');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function refusal(address: string, tls?: Parameters<typeof peerCredentials>[1]): AgentError {
  let caught: unknown;
  try {
    peerCredentials(address, tls);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AgentError);
  return caught as AgentError;
}

describe('peerCredentials', () => {
  it('dials a unix socket in plaintext, with or without peer TLS settings', () => {
    expect(peerCredentials('unix:/run/criu-agent/agent.sock', undefined)._isSecure()).toBe(false);
    expect(peerCredentials('unix:/run/criu-agent/agent.sock', { ca: p('ca.pem') })._isSecure()).toBe(false);
  });

  it('dials loopback TCP in plaintext without peer TLS settings', () => {
    for (const a of ['127.0.0.1:50051', '127.3.2.1:1', 'localhost:50051', '[::1]:50051']) expect(peerCredentials(a, undefined)._isSecure()).toBe(false);
  });

  it('dials any TCP address over TLS when a peer TLS setting is given, loopback included', () => {
    expect(peerCredentials('10.0.0.2:50051', { ca: p('ca.pem') })._isSecure()).toBe(true);
    expect(peerCredentials('127.0.0.1:50051', { ca: p('ca.pem') })._isSecure()).toBe(true);
    expect(peerCredentials('node-b.example:50051', { cert: p('me.pem'), key: p('me.key') })._isSecure()).toBe(true);
    expect(peerCredentials('[fd00::2]:50051', { ca: p('ca.pem'), cert: p('me.pem'), key: p('me.key') })._isSecure()).toBe(true);
  });

  it('refuses a TCP destination beyond loopback without peer TLS: FAILED_PRECONDITION naming the flags', () => {
    for (const a of ['10.0.0.2:50051', 'node-b.example:50051', '0.0.0.0:50051']) {
      const err = refusal(a, undefined);
      expect(err.kind).toBe('failed-precondition');
      expect(err.message).toBe(
        `the destination ${a} is reached over TCP beyond loopback, which needs TLS, and this agent has no client TLS settings for its peers: ` +
          "start it with --peer-tls-ca FILE (the CA of the destination's certificate) and, for a destination that requires client certificates, " +
          '--peer-tls-cert FILE --peer-tls-key FILE (or CRIU_AGENT_PEER_TLS_CA, CRIU_AGENT_PEER_TLS_CERT, CRIU_AGENT_PEER_TLS_KEY)',
      );
    }
  });

  it('refuses unusable files, naming the flag and the file', () => {
    expect(refusal('10.0.0.2:1', { ca: p('nope.pem') }).message).toBe(`--peer-tls-ca ${p('nope.pem')}: cannot read it (ENOENT)`);
    expect(refusal('10.0.0.2:1', { ca: p('empty.pem') }).message).toMatch(new RegExp(`^--peer-tls-ca ${p('empty.pem')}: not a PEM certificate`));
    const mismatch = refusal('10.0.0.2:1', { cert: p('me.pem'), key: p('ca.key') });
    expect(mismatch.kind).toBe('failed-precondition');
    expect(mismatch.message).toMatch(new RegExp(`^--peer-tls-key ${p('ca.key')}: not the private key of --peer-tls-cert ${p('me.pem')}`));
  });
});
