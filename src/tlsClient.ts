// TLS as a client, shared by the CLI (src/cli/client.ts) and the agent's
// peer client (src/peer/grpc.ts): both read the same kinds of files and dial
// TLS addresses that may be IPs. Each caller says how a refusal is thrown
// (a usage error in the CLI, a precondition in the agent).
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import { errorMessage } from './errors';

/** A file a TLS setting names, and where the setting came from (a flag or an environment variable), for messages. */
export interface TlsSetting {
  readonly value: string;
  readonly from: string;
}

/** The files of a client's TLS: the CA to verify the server with, and the client certificate and its key. */
export interface ClientTlsFiles {
  readonly ca?: TlsSetting;
  readonly cert?: TlsSetting;
  readonly key?: TlsSetting;
}

/**
 * TLS channel credentials from `files`, read now, so that a missing or
 * unusable file is refused naming it before anything is sent; `refuse` makes
 * the caller's error from a message.
 */
export function clientTlsCredentials(files: ClientTlsFiles, refuse: (message: string) => Error): grpc.ChannelCredentials {
  const ca = files.ca ? readCertificate(files.ca, refuse) : null;
  const cert = files.cert ? readCertificate(files.cert, refuse) : null;
  const key = files.key ? readTlsFile(files.key, refuse) : null;
  try {
    return grpc.credentials.createSsl(ca, key, cert);
  } catch (err) {
    // The certificate parsed already: what is left is a key that is not PEM or not the certificate's.
    throw refuse(
      `${files.key?.from} ${files.key?.value}: not the private key of ${files.cert?.from} ${files.cert?.value} (${errorMessage(err)})`,
    );
  }
}

function readTlsFile(s: TlsSetting, refuse: (message: string) => Error): Buffer {
  try {
    return fs.readFileSync(s.value);
  } catch (err) {
    throw refuse(`${s.from} ${s.value}: cannot read it (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
  }
}

/** grpc-js takes a CA file without a certificate in it and then trusts nothing: refuse it here, naming the file. */
function readCertificate(s: TlsSetting, refuse: (message: string) => Error): Buffer {
  const pem = readTlsFile(s, refuse);
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw refuse(`${s.from} ${s.value}: not a PEM certificate (${errorMessage(err)})`);
  }
  return pem;
}

let ipServerNameWarningDropped = false;

/**
 * grpc-js sends the host dialed as the TLS server name (SNI), and Node warns
 * on stderr when that is an IP (DEP0123: RFC 6066 allows only host names
 * there). The certificate is still checked against the IP, so the warning
 * tells an operator nothing; it would clutter every CLI probe's output, and
 * in the agent break its log of one JSON object per line. Drops that one
 * warning, for the process, once a caller dials an IP over TLS.
 */
export function dropIpServerNameWarning(): void {
  if (ipServerNameWarningDropped) return;
  ipServerNameWarningDropped = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = (...args: unknown[]) => {
    if (args[2] !== 'DEP0123') emit(...args);
  };
}
