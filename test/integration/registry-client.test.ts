import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentError } from '../../src/errors';
import { MONOLITHIC_BYTES, HttpRegistryClient, sha256Digest } from '../../src/registry/client';
import { parseReference } from '../../src/registry/reference';
import { startRegistry, writeAuthFile, type TestRegistry } from '../helpers/registry';

const match = (re: RegExp): unknown => expect.stringMatching(re) as unknown;

async function* chunks(buf: Buffer, size = 512 * 1024): AsyncIterable<Buffer> {
  for (let o = 0; o < buf.length; o += size) yield await Promise.resolve(buf.subarray(o, o + size));
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

describe('registry client against docker-registry over plain HTTP', () => {
  let reg: TestRegistry;
  let client: HttpRegistryClient;
  beforeAll(async () => {
    reg = await startRegistry();
    client = new HttpRegistryClient({ insecure: [reg.host], caFiles: {}, attempts: 2, backoffMs: 20 });
  });
  afterAll(async () => {
    await client.close();
    await reg.stop();
  });

  it('uploads a small blob in one PUT and a large one in chunks, then reads both back', async () => {
    const ref = parseReference(`${reg.host}/it/blobs:one`);
    const small = randomBytes(1000);
    const large = randomBytes(MONOLITHIC_BYTES * 2 + 12345);
    for (const blob of [small, large]) {
      const digest = sha256Digest(blob);
      expect(await client.hasBlob(ref, digest)).toBe(false);
      expect(await client.pushBlob(ref, digest, blob.length, () => chunks(blob))).toBe(blob.length);
      expect(await client.hasBlob(ref, digest)).toBe(true);
      const back = await collect(client.getBlob(ref, digest));
      expect(createHash('sha256').update(back).digest('hex')).toBe(digest.slice(7));
      expect(fs.statSync(reg.blobPath(digest)).size).toBe(blob.length);
    }
  });

  it('refuses a blob whose bytes do not hash to the digest it names (the registry checks)', async () => {
    const ref = parseReference(`${reg.host}/it/blobs:two`);
    const blob = randomBytes(2000);
    const wrong = sha256Digest(randomBytes(10));
    await expect(client.pushBlob(ref, wrong, blob.length, () => chunks(blob))).rejects.toMatchObject({ kind: 'data-loss', message: match(/DIGEST_INVALID/) });
  });

  it('puts a manifest by tag and reads it by tag and by digest; an unknown tag is NOT_FOUND in the registry words', async () => {
    const ref = parseReference(`${reg.host}/it/man:v1`);
    const config = Buffer.from('{}');
    await client.pushBlob(ref, sha256Digest(config), config.length, () => chunks(config));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.criu-agent.test.v1+json', digest: sha256Digest(config), size: config.length },
        layers: [],
      }),
    );
    const digest = await client.putManifest(ref, 'application/vnd.oci.image.manifest.v1+json', manifest);
    expect(digest).toBe(sha256Digest(manifest));
    const byTag = await client.getManifest(ref, ['application/vnd.oci.image.manifest.v1+json']);
    expect(byTag.bytes.equals(manifest)).toBe(true);
    const byDigest = await client.getManifest(parseReference(`${reg.host}/it/man@${digest}`), ['application/vnd.oci.image.manifest.v1+json']);
    expect(byDigest.digest).toBe(digest);
    await expect(client.getManifest(parseReference(`${reg.host}/it/man:nope`), ['application/vnd.oci.image.manifest.v1+json'])).rejects.toMatchObject({
      kind: 'not-found',
      message: match(/MANIFEST_UNKNOWN/),
    });
  });

  it('is UNAVAILABLE, after its retries, when the registry is gone', async () => {
    const ref = parseReference(`${reg.host}/it/gone:x`);
    await reg.kill();
    try {
      await expect(client.hasBlob(ref, sha256Digest(Buffer.from('x')))).rejects.toMatchObject({ kind: 'unavailable', message: match(/ECONNREFUSED/) });
    } finally {
      await reg.restart();
    }
  });
});

describe('registry client against docker-registry with TLS and basic auth', () => {
  let reg: TestRegistry;
  let dir: string;
  let files = 0;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true, user: { name: 'ci', password: 's3cret-pw' } });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-auth-'));
  });
  afterAll(async () => {
    await reg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const clientWith = (password: string | undefined, ca = true): HttpRegistryClient => {
    const authFile = path.join(dir, `auth-${files++}.json`);
    if (password !== undefined) writeAuthFile(authFile, reg.host, 'ci', password);
    else fs.writeFileSync(authFile, '{"auths": {}}');
    return new HttpRegistryClient({ authFile, insecure: [], caFiles: ca ? { [reg.host]: reg.caFile ?? '' } : {}, attempts: 2, backoffMs: 20 });
  };

  it('pushes and reads with the credentials of the auth file, verifying the registry by the configured CA', async () => {
    const client = clientWith('s3cret-pw');
    const ref = parseReference(`${reg.host}/it/tls:v1`);
    const blob = randomBytes(5000);
    await client.pushBlob(ref, sha256Digest(blob), blob.length, () => chunks(blob));
    expect((await collect(client.getBlob(ref, sha256Digest(blob)))).equals(blob)).toBe(true);
    await client.close();
  });

  it('wrong credentials: UNAUTHENTICATED in the registry words, naming the user but never the password', async () => {
    const client = clientWith('wrong-pw');
    const err = (await client.hasBlob(parseReference(`${reg.host}/it/tls:v1`), sha256Digest(Buffer.from('x'))).catch((e: unknown) => e)) as AgentError;
    expect(err).toBeInstanceOf(AgentError);
    expect(err.kind).toBe('unauthenticated');
    expect(err.message).toMatch(/UNAUTHORIZED: authentication required/);
    expect(err.message).toMatch(/user ci/);
    expect(err.message).not.toMatch(/wrong-pw/);
    await client.close();
  });

  it('no credentials: UNAUTHENTICATED saying where to put them', async () => {
    const client = clientWith(undefined);
    await expect(client.hasBlob(parseReference(`${reg.host}/it/tls:v1`), sha256Digest(Buffer.from('x')))).rejects.toMatchObject({
      kind: 'unauthenticated',
      message: match(/requires credentials .*Basic realm="criu-agent-test".*add an entry for 127\.0\.0\.1/),
    });
    await client.close();
  });

  it('without the CA configured the certificate is refused, saying how to configure it', async () => {
    const client = clientWith('s3cret-pw', false);
    await expect(client.hasBlob(parseReference(`${reg.host}/it/tls:v1`), sha256Digest(Buffer.from('x')))).rejects.toMatchObject({
      kind: 'unavailable',
      message: match(/cannot verify the TLS certificate .*--registry-ca/),
    });
    await client.close();
  });
});
