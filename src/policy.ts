import * as fs from 'node:fs';
import { errorMessage } from './errors';

// The authorization policy's model and file format, apart from the server that
// enforces it (src/server/authz.ts): the configuration (src/config.ts) reads and
// validates the --policy file at start, and the server re-reads it on change.

/** The RPCs of criu_agent.v1.CheckpointAgent a policy may name (proto/criu_agent/v1/agent.proto). */
export const AGENT_METHODS = [
  'Dump',
  'PreDump',
  'Restore',
  'Continue',
  'Check',
  'ListCheckpoints',
  'GetCheckpoint',
  'DeleteCheckpoint',
  'ExportCheckpoint',
  'ImportCheckpoint',
  'Migrate',
  'ReceiveMigration',
  'PushCheckpoint',
  'PullCheckpoint',
] as const;

/** The identity of every unix socket client when the policy names no other (`unixIdentity`). */
export const UNIX_IDENTITY = 'unix';

/**
 * Who may call what (--policy FILE, JSON):
 * `{"roles": {"reader": ["Check", "ListCheckpoints"], "operator": ["*"]},
 *   "bindings": [{"identity": "spiffe://cluster/controller", "role": "operator"}],
 *   "unixIdentity": "unix"}`.
 * A client's identities are, over TLS with a verified client certificate, its
 * certificate's URI, DNS and email SANs and its subject CN; on a unix socket
 * "uid:N" (the connecting process's uid, from SO_PEERCRED) and `unixIdentity`;
 * over plaintext loopback TCP "loopback"; over TLS without a client
 * certificate "anonymous". Those transport names are never taken from a
 * certificate.
 */
export interface Policy {
  /** Role -> the RPC names it allows ("*": all). */
  readonly roles: Readonly<Record<string, readonly string[]>>;
  readonly bindings: readonly { readonly identity: string; readonly role: string }[];
  readonly unixIdentity: string;
}

/** Validates a parsed policy file; throws an Error whose message names the bad entry. */
export function parsePolicy(json: unknown): Policy {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error('expected a JSON object with "roles" and "bindings"');
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['roles', 'bindings', 'unixIdentity'].includes(k))
      throw new Error(`unknown key ${JSON.stringify(k)}; known: roles, bindings, unixIdentity`);
  }
  if (typeof o.roles !== 'object' || o.roles === null || Array.isArray(o.roles))
    throw new Error('"roles" must be an object of role name -> list of RPC names');
  const roles: Record<string, readonly string[]> = {};
  for (const [role, methods] of Object.entries(o.roles)) {
    if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string'))
      throw new Error(`roles.${role} must be a list of RPC names`);
    for (const m of methods) {
      if (m !== '*' && !(AGENT_METHODS as readonly string[]).includes(m)) {
        throw new Error(
          `roles.${role}: ${JSON.stringify(m)} is not an RPC of criu_agent.v1.CheckpointAgent (${AGENT_METHODS.join(', ')}, or "*")`,
        );
      }
    }
    roles[role] = Object.freeze([...methods]);
  }
  if (!Array.isArray(o.bindings)) throw new Error('"bindings" must be a list of {"identity": ..., "role": ...}');
  const bindings = o.bindings.map((b: unknown, i) => {
    const e = b as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.identity !== 'string' || e.identity === '' || typeof e.role !== 'string') {
      throw new Error(`bindings[${i}] must be {"identity": "...", "role": "..."}`);
    }
    if (!(e.role in roles))
      throw new Error(`bindings[${i}]: no role ${JSON.stringify(e.role)} in "roles" (${Object.keys(roles).join(', ')})`);
    return Object.freeze({ identity: e.identity, role: e.role });
  });
  if (o.unixIdentity !== undefined && (typeof o.unixIdentity !== 'string' || o.unixIdentity === ''))
    throw new Error('"unixIdentity" must be a non-empty string');
  return Object.freeze({
    roles: Object.freeze(roles),
    bindings: Object.freeze(bindings),
    unixIdentity: o.unixIdentity ?? UNIX_IDENTITY,
  });
}

/** Reads and validates a policy file; throws an Error whose message says what is wrong (not which file). */
export function readPolicyFile(file: string): Policy {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the policy file ${file}: ${errorMessage(err)}`);
  }
  try {
    return parsePolicy(JSON.parse(text));
  } catch (err) {
    throw new Error(`policy file ${file}: ${errorMessage(err)}`);
  }
}
