// Shared by the CLI (src/cli/client.ts) and the agent's peer client
// (src/peer/grpc.ts), which both dial TLS addresses that may be IPs.

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
