import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';

/**
 * A user name and secret for one registry. The secret never shows in a log
 * line, an error message or util.inspect: pino and error messages serialize
 * with JSON.stringify or inspect, and both see "[redacted]".
 */
export class Credentials {
  readonly #secret: string;

  constructor(
    readonly username: string,
    secret: string,
    /** Where they were found, for messages ("/root/.docker/config.json"). */
    readonly source: string,
  ) {
    this.#secret = secret;
  }

  /** The Authorization header value of HTTP basic auth. */
  basicHeader(): string {
    return `Basic ${Buffer.from(`${this.username}:${this.#secret}`).toString('base64')}`;
  }

  toJSON(): unknown {
    return { username: this.username, secret: '[redacted]', source: this.source };
  }

  [inspect.custom](): string {
    return `Credentials(${this.username}, [redacted], ${this.source})`;
  }
}

/**
 * The auth files looked at, first found wins, as podman/skopeo and docker do:
 * the agent's configured file, $REGISTRY_AUTH_FILE, the containers auth.json
 * under $XDG_RUNTIME_DIR (root: /run/containers/0), then ~/.docker/config.json.
 */
export function authFileCandidates(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  if (configured) return [configured];
  const out: string[] = [];
  if (env.REGISTRY_AUTH_FILE) out.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) out.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  else if (process.getuid?.() === 0) out.push('/run/containers/0/auth.json');
  const home = env.HOME || os.homedir();
  out.push(path.join(home, '.docker', 'config.json'));
  return out;
}

/**
 * Credentials for `registry` (host[:port]) from a docker/podman auth file
 * (`{"auths": {"host": {"auth": base64("user:pass")}}}`, keys also as
 * "https://host" or "https://host/v1/"); undefined when no file or no entry.
 * A file that exists but does not parse is an Error naming the file.
 */
export function findCredentials(registry: string, files: readonly string[]): Credentials | undefined {
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`registry auth file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    const auths = (parsed as { auths?: unknown } | null)?.auths;
    if (typeof auths !== 'object' || auths === null) return undefined;
    for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
      if (hostOfKey(key) !== hostOfKey(registry)) continue;
      const e = entry as { auth?: unknown; username?: unknown; password?: unknown } | null;
      if (typeof e?.auth === 'string' && e.auth !== '') {
        const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon <= 0) throw new Error(`registry auth file ${file}: the entry for ${key} is not base64 of "user:password"`);
        return new Credentials(decoded.slice(0, colon), decoded.slice(colon + 1), file);
      }
      if (typeof e?.username === 'string' && typeof e.password === 'string') return new Credentials(e.username, e.password, file);
    }
    // The first auth file found is the one in force, as with podman.
    return undefined;
  }
  return undefined;
}

/** "https://host:5000/v1/" -> "host:5000"; docker.io's historical keys to "docker.io". */
function hostOfKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//, '').split('/')[0] ?? '';
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}
