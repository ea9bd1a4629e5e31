/**
 * A real OCI registry for the tests: Debian's docker-registry (distribution
 * 2.8), installed by scripts/test-deps.sh, run with a config of our own on a
 * free loopback port and a temporary storage directory; plain HTTP, or TLS
 * with basic auth (htpasswd bcrypt file from apache2-utils' htpasswd).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CertDir } from './certs';
import { freePort } from './net';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export { freePort };

export interface RegistryOptions {
  /** Serve HTTPS with a certificate for 127.0.0.1/localhost signed by a test CA (`caFile`). */
  tls?: boolean;
  /** Require basic auth for this user. */
  user?: { name: string; password: string };
}

export interface TestRegistry {
  /** host:port, as references name it: "127.0.0.1:PORT". */
  readonly host: string;
  readonly dir: string;
  /** The storage root (filesystem driver). */
  readonly storageDir: string;
  /** The test CA's PEM, with tls. */
  readonly caFile?: string;
  /** The data file of a blob in the storage (to corrupt it). */
  blobPath(digest: string): string;
  /** Every blob digest stored. */
  blobs(): string[];
  /** Kills the registry at once (SIGKILL): a registry that went away. */
  kill(): Promise<void>;
  /** Starts it again on the same port and storage. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  output(): string;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  if (!fs.existsSync(REGISTRY_BIN)) throw new Error(`${REGISTRY_BIN} is missing: run scripts/test-deps.sh (npm test does)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-registry-'));
  const storageDir = path.join(dir, 'storage');
  fs.mkdirSync(storageDir);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let caFile: string | undefined;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    `  secret: ${Math.random().toString(36).slice(2)}`,
  ];
  if (opts.tls) {
    const certs = new CertDir('criu-agent-registry-certs-');
    certs.makeCa('ca');
    certs.makeCert('registry', 'ca', 'registry', 'IP:127.0.0.1,DNS:localhost', 'serverAuth');
    caFile = certs.path('ca.pem');
    lines.push('  tls:', `    certificate: ${certs.path('registry.pem')}`, `    key: ${certs.path('registry.key')}`);
  }
  if (opts.user) {
    const htpasswd = path.join(dir, 'htpasswd');
    fs.writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', opts.user.name, opts.user.password]));
    lines.push('auth:', '  htpasswd:', '    realm: criu-agent-test', `    path: ${htpasswd}`);
  }
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(configFile, lines.join('\n') + '\n');

  let child: ChildProcess | undefined;
  let out = '';
  const launch = async (): Promise<void> => {
    const c = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const started = Date.now();
    while (!(await answers(port))) {
      if (c.exitCode !== null) throw new Error(`docker-registry exited with ${c.exitCode}:\n${out}`);
      if (Date.now() - started > 20_000) {
        c.kill('SIGKILL');
        throw new Error(`docker-registry did not listen on ${host} within 20 s:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    await exited;
  };
  await launch();
  const blobsDir = path.join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  return {
    host,
    dir,
    storageDir,
    caFile,
    blobPath: (digest) => {
      const hex = digest.replace(/^sha256:/, '');
      return path.join(blobsDir, hex.slice(0, 2), hex, 'data');
    },
    blobs: () => {
      if (!fs.existsSync(blobsDir)) return [];
      return fs.readdirSync(blobsDir).flatMap((p) => fs.readdirSync(path.join(blobsDir, p)).map((h) => `sha256:${h}`));
    },
    kill: () => halt('SIGKILL'),
    restart: launch,
    stop: async () => {
      await halt('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
      if (caFile) fs.rmSync(path.dirname(caFile), { recursive: true, force: true });
    },
    output: () => out,
  };
}


/** The registry accepts connections on port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** An auth file in docker's format holding these credentials for `host`. */
export function writeAuthFile(file: string, host: string, user: string, password: string): void {
  fs.writeFileSync(file, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }), { mode: 0o600 });
}
