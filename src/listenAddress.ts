import * as net from 'node:net';

export type ListenAddress =
  | { kind: 'unix'; path: string; text: string }
  | { kind: 'tcp'; host: string; port: number; text: string; loopback: boolean };

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/**
 * `unix:/path` or `host:port`. Plaintext TCP is accepted only on loopback:
 * anyone who reaches this port can freeze, copy and kill any process on the
 * node. With TLS (`opts.tls`) any address is accepted.
 */
export function parseListenAddress(text: string, opts: { tls?: boolean } = {}): ListenAddress {
  if (text.startsWith('unix:')) {
    const p = text.slice('unix:'.length);
    if (!p.startsWith('/')) throw new Error(`listen address ${JSON.stringify(text)}: the unix socket path must be absolute (unix:/run/criu-agent/agent.sock)`);
    return { kind: 'unix', path: p, text };
  }
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  if (!m) throw new Error(`listen address ${JSON.stringify(text)} is neither unix:/path nor host:port`);
  const host = m[1] ?? '';
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`listen address ${JSON.stringify(text)}: port ${port} is out of range`);
  const bare = host.replace(/^\[|\]$/g, '');
  const loopback = LOOPBACK.has(host) || (net.isIPv4(bare) && bare.startsWith('127.'));
  if (!loopback && !opts.tls) {
    throw new Error(
      `listen address ${JSON.stringify(text)}: plaintext TCP is only allowed on loopback (127.0.0.1, [::1], localhost); ` +
        'TLS is required on any other address (--tls-cert FILE --tls-key FILE), or use a unix socket for local callers',
    );
  }
  return { kind: 'tcp', host, port, text, loopback };
}
