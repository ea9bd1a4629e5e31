/**
 * Certificates for the TLS tests, made by openssl in a temporary directory:
 * CAs, server and client certificates with the subjectAltNames a test needs.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export class CertDir {
  readonly dir: string;

  constructor(prefix = 'criu-agent-certs-') {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  }

  /** The path of a file in the directory, e.g. path('ca.pem'). */
  path(name: string): string {
    return path.join(this.dir, name);
  }

  read(name: string): Buffer {
    return fs.readFileSync(this.path(name));
  }

  /** A CA `name`: `name.key` and the self-signed `name.pem`. */
  makeCa(name: string): void {
    this.openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${name}`, '-keyout', this.path(`${name}.key`), '-out', this.path(`${name}.pem`));
  }

  /** A certificate `name` (`name.key`, `name.pem`) signed by `ca`, with subject CN `cn` and these subjectAltNames. */
  makeCert(name: string, ca: string, cn: string, san: string, usage: 'serverAuth' | 'clientAuth'): void {
    this.openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`,
      '-keyout', this.path(`${name}.key`), '-out', this.path(`${name}.csr`));
    fs.writeFileSync(this.path(`${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
    this.openssl('x509', '-req', '-in', this.path(`${name}.csr`), '-CA', this.path(`${ca}.pem`), '-CAkey', this.path(`${ca}.key`),
      '-CAcreateserial', '-days', '2', '-extfile', this.path(`${name}.ext`), '-out', this.path(`${name}.pem`));
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}
