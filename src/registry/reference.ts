import { invalidArgument } from '../errors';

/** A parsed image reference, e.g. "registry.example:5000/team/web:ckpt-42" or "...@sha256:<64 hex>". */
export interface ImageReference {
  /** host[:port] as written ("docker.io" when the reference names none). */
  readonly registry: string;
  /** The repository path, e.g. "team/web". */
  readonly repository: string;
  /** The tag; undefined when only a digest is given. */
  readonly tag?: string;
  /** "sha256:<64 hex>" when the reference pins a manifest digest. */
  readonly digest?: string;
}

// The grammar of distribution's reference package (docker/distribution reference/regexp.go), restated.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const MAX_REFERENCE = 1024;

/**
 * Parses an image reference as docker and podman do: the first path component
 * is the registry when it holds a '.' or ':' or is "localhost"; otherwise the
 * reference is on Docker Hub. INVALID_ARGUMENT naming the part that is wrong.
 */
export function parseReference(text: string, field = 'reference'): ImageReference {
  if (text === '') throw invalidArgument(`${field} is required: name an image, e.g. "registry.example:5000/team/web:ckpt-42"`);
  if (text.length > MAX_REFERENCE) throw invalidArgument(`${field} is ${text.length} characters long; at most ${MAX_REFERENCE} are allowed`);
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalidArgument(`${field} ${JSON.stringify(text)}: the digest must be sha256: and 64 lowercase hex digits`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalidArgument(`${field} ${JSON.stringify(text)}: tag ${JSON.stringify(tag)} is not a valid tag ([A-Za-z0-9_.-], at most 128, not starting with '.' or '-')`);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) throw invalidArgument(`${field} ${JSON.stringify(text)}: ${JSON.stringify(registry)} is not a host[:port]`);
  }
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  for (const p of parts) {
    if (!COMPONENT.test(p)) {
      throw invalidArgument(`${field} ${JSON.stringify(text)}: repository component ${JSON.stringify(p)} must be lowercase letters and digits, separated by '.', '_', '__' or '-'`);
    }
  }
  if (!tag && !digest) tag = 'latest';
  return { registry, repository: parts.join('/'), ...(tag && !digest ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The reference as text, e.g. "localhost:5000/team/web:ckpt-42". */
export function formatReference(r: ImageReference): string {
  return `${r.registry}/${r.repository}${r.digest ? `@${r.digest}` : `:${r.tag ?? 'latest'}`}`;
}
