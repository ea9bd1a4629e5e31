import { parsePolicy } from '../../src/policy';
import { authorize, certificateNames, isTransportName, type ClientIdentity } from '../../src/server/authz';
import { cgroupUnder } from '../../src/service/guards';

const who = (names: string[], verified = false): ClientIdentity => ({ names, verified });

describe('authorize', () => {
  const policy = parsePolicy({
    roles: { reader: ['Check', 'ListCheckpoints', 'GetCheckpoint'], operator: ['*'] },
    bindings: [
      { identity: 'spiffe://cluster/controller', role: 'operator' },
      { identity: 'monitor.example', role: 'reader' },
      { identity: 'unix', role: 'operator' },
    ],
  });

  it('allows what a bound role names, by any of the identities of the client', () => {
    expect(authorize(policy, who(['spiffe://cluster/controller', 'cn'], true), 'Dump')).toEqual({ ok: true });
    expect(authorize(policy, who(['spiffe://cluster/other', 'monitor.example'], true), 'GetCheckpoint')).toEqual({ ok: true });
    expect(authorize(policy, who(['unix']), 'Restore')).toEqual({ ok: true });
  });

  it('refuses the rest, naming the identity, the RPC and what it may call', () => {
    expect(authorize(policy, who(['spiffe://cluster/other', 'monitor.example'], true), 'Dump')).toEqual({
      ok: false,
      reason: 'identity spiffe://cluster/other may not call Dump; allowed: Check, GetCheckpoint, ListCheckpoints',
    });
    expect(authorize(policy, who(['stranger'], true), 'Check')).toEqual({
      ok: false,
      reason: 'identity stranger may not call Check; allowed: nothing (no binding names this identity)',
    });
    expect(authorize(policy, who(['loopback']), 'Check').ok).toBe(false);
  });

  it('without a policy: unix, loopback and verified certificates may call everything, anonymous TLS clients nothing', () => {
    expect(authorize(undefined, who(['unix']), 'Dump').ok).toBe(true);
    expect(authorize(undefined, who(['loopback']), 'Dump').ok).toBe(true);
    expect(authorize(undefined, who(['x'], true), 'Dump').ok).toBe(true);
    const d = authorize(undefined, who(['anonymous']), 'Check');
    expect(d.ok).toBe(false);
    expect(d.ok ? '' : d.reason).toMatch(/^identity anonymous may not call Check: .*--tls-client-ca/);
  });
});

describe('parsePolicy', () => {
  it.each<[unknown, RegExp]>([
    [[], /expected a JSON object/],
    [{ roles: {}, bindings: [], extra: 1 }, /unknown key "extra"/],
    [{ roles: [], bindings: [] }, /"roles" must be an object/],
    [{ roles: { a: 'Dump' }, bindings: [] }, /roles.a must be a list of RPC names/],
    [{ roles: { a: ['dump'] }, bindings: [] }, /roles.a: "dump" is not an RPC/],
    [{ roles: {}, bindings: {} }, /"bindings" must be a list/],
    [{ roles: {}, bindings: [{ identity: '' , role: 'a' }] }, /bindings\[0\] must be/],
    [{ roles: { a: [] }, bindings: [{ identity: 'x', role: 'b' }] }, /bindings\[0\]: no role "b" in "roles" \(a\)/],
    [{ roles: {}, bindings: [], unixIdentity: 3 }, /"unixIdentity" must be a non-empty string/],
  ])('refuses %j', (json, message) => {
    expect(() => parsePolicy(json)).toThrow(message);
  });

  it('takes the unix identity from the file', () => {
    expect(parsePolicy({ roles: {}, bindings: [], unixIdentity: 'node-local' }).unixIdentity).toBe('node-local');
  });
});

describe('certificateNames', () => {
  it('lists URI, then DNS and email SANs, then the CN, without repeats', () => {
    expect(
      certificateNames({
        subjectaltname: 'DNS:ctl.example, URI:spiffe://cluster/controller, IP Address:10.0.0.1, email:ops@example.com, DNS:ctl.example',
        subject: { CN: 'controller' },
      }),
    ).toEqual(['spiffe://cluster/controller', 'ctl.example', 'ops@example.com', 'controller']);
    expect(certificateNames({ subjectaltname: undefined, subject: { CN: 'only-cn' } })).toEqual(['only-cn']);
  });
});

describe('isTransportName', () => {
  it('reserves the names a connection gets from its transport, so that no certificate can claim them', () => {
    const transports = { tcp: 'tls' as const, unixIdentity: 'node-local' };
    for (const n of ['uid:0', 'uid:65534', 'uid:', 'node-local', 'loopback', 'anonymous']) expect(isTransportName(n, transports)).toBe(true);
    for (const n of ['unix', 'spiffe://cluster/controller', 'ctl.example', 'uid0', 'UID:0']) expect(isTransportName(n, transports)).toBe(false);
  });
});

describe('cgroupUnder', () => {
  it('matches whole path components', () => {
    expect(cgroupUnder('/kubepods.slice/pod1/c', '/kubepods.slice')).toBe(true);
    expect(cgroupUnder('/kubepods.slice', '/kubepods.slice')).toBe(true);
    expect(cgroupUnder('/kubepods.slice2/x', '/kubepods.slice')).toBe(false);
    expect(cgroupUnder('/anything', '/')).toBe(true);
  });
});

describe('deploy/policy.example.json', () => {
  it('is a valid policy', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const json: unknown = require('../../deploy/policy.example.json');
    expect(parsePolicy(json).bindings.length).toBeGreaterThan(0);
  });
});
