import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError, type TlsFiles } from '../config';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import { watchFiles } from './watch';

/**
 * TLS server credentials that reload the certificate, key and client CA when
 * their files change. grpc-js applies a new secure context to the listener
 * (`setSecureContext`): new connections get the new certificate, calls on
 * existing connections go on undisturbed. A half-replaced pair (the new
 * certificate next to the old key) is not applied: the old one stays until
 * the files agree again.
 */
export class ReloadingTlsCredentials extends grpc.ServerCredentials {
  private current: string;
  private readonly unwatch: () => void;

  private constructor(
    private readonly files: TlsFiles,
    private readonly log: Logger,
    initial: SecureContextOptions,
    fingerprint: string,
  ) {
    // With a client CA the handshake requires and verifies a client certificate (mTLS).
    super({ requestCert: files.clientCa !== undefined, rejectUnauthorized: files.clientCa !== undefined }, initial);
    this.current = fingerprint;
    this.unwatch = watchFiles([files.cert, files.key, ...(files.clientCa ? [files.clientCa] : [])], () => this.reload());
  }

  /** Reads and checks the files now (throws when they do not make a usable certificate), then watches them. */
  static create(files: TlsFiles, log: Logger): ReloadingTlsCredentials {
    let loaded: ReturnType<typeof load>;
    try {
      loaded = load(files);
    } catch (err) {
      // At start a bad file is the operator's to fix, like any other setting (exit 2, not a crash).
      const ca = files.clientCa ? ` and the client CA ${files.clientCa}` : '';
      throw new ConfigError(
        `--tls-cert ${files.cert} with --tls-key ${files.key}${ca}: not a usable certificate, key and CA in PEM: ${errorMessage(err)}`,
      );
    }
    const { options, fingerprint, subject } = loaded;
    log.info({ cert: files.cert, subject, fingerprint, mtls: files.clientCa !== undefined }, 'TLS certificate loaded');
    return new ReloadingTlsCredentials(files, log, options, fingerprint);
  }

  /** Stops watching the files. */
  close(): void {
    this.unwatch();
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }

  private reload(): void {
    let loaded: ReturnType<typeof load>;
    try {
      loaded = load(this.files);
    } catch (err) {
      this.log.warn(
        { cert: this.files.cert, error: errorMessage(err) },
        'TLS files changed but do not make a usable certificate; keeping the previous one',
      );
      return;
    }
    if (loaded.fingerprint === this.current && !this.files.clientCa) return;
    this.current = loaded.fingerprint;
    this.updateSecureContextOptions(loaded.options);
    this.log.info({ cert: this.files.cert, subject: loaded.subject, fingerprint: loaded.fingerprint }, 'TLS certificate reloaded');
  }
}

function load(files: TlsFiles): { options: SecureContextOptions; fingerprint: string; subject: string } {
  const cert = fs.readFileSync(files.cert);
  const key = fs.readFileSync(files.key);
  const ca = files.clientCa ? fs.readFileSync(files.clientCa) : undefined;
  const options: SecureContextOptions = { cert, key, ...(ca ? { ca } : {}) };
  // Throws for a key that does not match the certificate, or unparsable PEM.
  createSecureContext(options);
  const x509 = new X509Certificate(cert);
  return { options, fingerprint: x509.fingerprint256, subject: x509.subject.replace(/\n/g, ', ') };
}
