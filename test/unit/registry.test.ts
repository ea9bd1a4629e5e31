import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { authFileCandidates, Credentials, findCredentials } from '../../src/registry/auth';
import { HttpRegistryClient, parseChallenge, sha256Digest } from '../../src/registry/client';
import { buildManifest, parseImage } from '../../src/registry/format';
import { parseReference } from '../../src/registry/reference';
import { authorize, methodsRequired } from '../../src/server/authz';
import { parsePolicy } from '../../src/policy';
import { checkpointRecord } from '../helpers/records';

describe('parseReference', () => {
  it('reads registry, repository, tag and digest as docker does', () => {
    expect(parseReference('registry.example:5000/team/web:ckpt-42')).toEqual({ registry: 'registry.example:5000', repository: 'team/web', tag: 'ckpt-42' });
    expect(parseReference('localhost/web')).toEqual({ registry: 'localhost', repository: 'web', tag: 'latest' });
    expect(parseReference('team/web:v1')).toEqual({ registry: 'docker.io', repository: 'team/web', tag: 'v1' });
    expect(parseReference('web')).toEqual({ registry: 'docker.io', repository: 'library/web', tag: 'latest' });
    const d = `sha256:${'ab'.repeat(32)}`;
    expect(parseReference(`127.0.0.1:5000/a/b:t@${d}`)).toEqual({ registry: '127.0.0.1:5000', repository: 'a/b', digest: d });
  });

  it('refuses malformed references naming the part', () => {
    expect(() => parseReference('')).toThrow(/reference is required/);
    expect(() => parseReference('r.example/Team/web:v1')).toThrow(/repository component "Team"/);
    expect(() => parseReference('r.example/web:-bad')).toThrow(/tag "-bad"/);
    expect(() => parseReference('r.example/web@sha256:xyz')).toThrow(/digest must be sha256/);
  });
});

describe('registry credentials', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-auth-unit-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds an entry by host, also under an https:// key, and never shows the secret', () => {
    const file = path.join(dir, 'auth.json');
    fs.writeFileSync(file, JSON.stringify({ auths: { 'https://r.example:5000/v1/': { auth: Buffer.from('me:top-secret').toString('base64') }, 'other.example': { username: 'u', password: 'p' } } }));
    const c = findCredentials('r.example:5000', [path.join(dir, 'missing.json'), file]) as Credentials;
    expect(c.username).toBe('me');
    expect(c.basicHeader()).toBe(`Basic ${Buffer.from('me:top-secret').toString('base64')}`);
    expect(JSON.stringify({ c })).not.toMatch(/top-secret/);
    expect(inspect(c)).not.toMatch(/top-secret/);
    expect(findCredentials('other.example', [file])?.username).toBe('u');
    expect(findCredentials('nowhere.example', [file])).toBeUndefined();
  });

  it('looks where podman and docker look, or only at the configured file', () => {
    expect(authFileCandidates('/etc/criu-agent/auth.json', {})).toEqual(['/etc/criu-agent/auth.json']);
    expect(authFileCandidates(undefined, { REGISTRY_AUTH_FILE: '/x/auth.json', XDG_RUNTIME_DIR: '/run/user/7', HOME: '/home/me' })).toEqual([
      '/x/auth.json',
      '/run/user/7/containers/auth.json',
      '/home/me/.docker/config.json',
    ]);
  });
});

describe('the bearer-token flow', () => {
  it('answers a Bearer challenge with a token from the realm, asked with the basic credentials, and reuses it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-bearer-'));
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      seen.push(`${req.method} ${url.pathname} ${req.headers.authorization ?? '-'}`);
      if (url.pathname === '/token') {
        const ok = req.headers.authorization === `Basic ${Buffer.from('bob:pw').toString('base64')}` && url.searchParams.get('service') === 'reg' && url.searchParams.get('scope') === 'repository:team/web:pull,push';
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify(ok ? { token: 'tok-1' } : { details: 'bad login' }));
        return;
      }
      if (req.headers.authorization !== 'Bearer tok-1') {
        const { port } = server.address() as AddressInfo;
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="reg",scope="repository:team/web:pull,push"` });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      res.writeHead(url.pathname.endsWith('/present') ? 200 : 404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const authFile = path.join(dir, 'auth.json');
      fs.writeFileSync(authFile, JSON.stringify({ auths: { [host]: { auth: Buffer.from('bob:pw').toString('base64') } } }));
      const client = new HttpRegistryClient({ authFile, insecure: [host], caFiles: {}, attempts: 1 });
      const ref = parseReference(`${host}/team/web:v1`);
      expect(await client.hasBlob(ref, 'present')).toBe(true);
      expect(await client.hasBlob(ref, 'absent')).toBe(false);
      await client.close();
      expect(seen).toEqual([
        'HEAD /v2/team/web/blobs/present -',
        `GET /token Basic ${Buffer.from('bob:pw').toString('base64')}`,
        'HEAD /v2/team/web/blobs/present Bearer tok-1',
        'HEAD /v2/team/web/blobs/absent Bearer tok-1',
      ]);

      fs.writeFileSync(authFile, JSON.stringify({ auths: { [host]: { auth: Buffer.from('bob:wrong').toString('base64') } } }));
      const refused = new HttpRegistryClient({ authFile, insecure: [host], caFiles: {}, attempts: 1 });
      await expect(refused.hasBlob(ref, 'present')).rejects.toMatchObject({ kind: 'unauthenticated', message: expect.stringMatching(/refused user bob .*: bad login/) as unknown });
      await refused.close();
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses challenge parameters, quoted or not', () => {
    expect(parseChallenge('realm="https://auth.example/token",service=registry.example,scope="repository:a/b:pull"')).toEqual({
      realm: 'https://auth.example/token',
      service: 'registry.example',
      scope: 'repository:a/b:pull',
    });
  });
});

describe('the image format', () => {
  const pre = checkpointRecord('pre', { kind: 'pre-dump', files: [{ path: 'pages-1.img', size: 3, xxh64: 'aaaaaaaaaaaaaaaa' }, { path: 'empty', size: 0, xxh64: 'ef46db3751d8e999' }] });
  const dump = checkpointRecord('d', {
    parentId: 'pre',
    files: [{ path: 'parent', size: 6, symlink: '../pre' }, { path: 'pages-2.img', size: 4, xxh64: 'bbbbbbbbbbbbbbbb' }],
  });
  const layers = [
    { checkpointId: 'pre', path: 'pages-1.img', size: 3, xxh64: 'aaaaaaaaaaaaaaaa', digest: sha256Digest(Buffer.from('abc')) },
    { checkpointId: 'd', path: 'pages-2.img', size: 4, xxh64: 'bbbbbbbbbbbbbbbb', digest: sha256Digest(Buffer.from('abcd')) },
  ];

  it('round-trips: one layer per non-empty regular file, the records in the config', () => {
    const built = buildManifest([pre, dump], layers);
    const manifest = JSON.parse(built.manifestBytes.toString()) as { artifactType: string; layers: { annotations: Record<string, string> }[]; config: { digest: string } };
    expect(manifest.artifactType).toBe('application/vnd.criu-agent.checkpoint.v1');
    expect(manifest.config.digest).toBe(sha256Digest(built.configBytes));
    expect(manifest.layers.map((l) => l.annotations['org.opencontainers.image.title'])).toEqual(['pages-1.img', 'pages-2.img']);
    const image = parseImage(manifest, built.configBytes, 'ref');
    expect(image.chain.map((r) => r.id)).toEqual(['pre', 'd']);
    expect(image.layerOf('d', 'pages-2.img').digest).toBe(layers[1]?.digest);
  });

  it('refuses an image whose layers and config disagree: DATA_LOSS', () => {
    const built = buildManifest([pre, dump], layers);
    const manifest = JSON.parse(built.manifestBytes.toString()) as { layers: { size: number }[] };
    (manifest.layers[1] as { size: number }).size = 5;
    expect(() => parseImage(manifest, built.configBytes, 'ref')).toThrow(/not a consistent checkpoint image: the layer of pages-2.img of d says 5 bytes/);
    expect(() => parseImage({ layers: manifest.layers.slice(0, 1) }, built.configBytes, 'ref')).toThrow(/pages-2.img of checkpoint d has no layer/);
  });
});

describe('authorization of the registry calls', () => {
  const policy = parsePolicy({ roles: { reader: ['GetCheckpoint'], restorer: ['Restore'], operator: ['*'] }, bindings: [{ identity: 'r', role: 'restorer' }, { identity: 'op', role: 'operator' }] });
  it('a Restore by image_reference also needs PullCheckpoint', () => {
    expect(methodsRequired('Restore', { checkpoint_id: 'x' })).toEqual(['Restore']);
    expect(methodsRequired('Restore', { image_reference: 'r.example/a:b' })).toEqual(['Restore', 'PullCheckpoint']);
    expect(authorize(policy, { names: ['r'], verified: true }, 'PullCheckpoint').ok).toBe(false);
    expect(authorize(policy, { names: ['op'], verified: true }, 'PushCheckpoint').ok).toBe(true);
  });
});
