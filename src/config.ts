import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { parseListenAddress, type ListenAddress } from './server/address';

/** The agent's settings, validated once at start and passed explicitly. */
export interface AgentConfig {
  readonly listen: ListenAddress;
  readonly stateDir: string;
  /** The criu binary started as `criu swrk` for each operation (ignored with criuSocket). */
  readonly criuPath: string;
  /** A `criu service` socket to use instead of starting `criu swrk`. */
  readonly criuSocket?: string;
  /** Unix socket permissions (octal), 0o600 by default: only root may call. */
  readonly socketMode: number;
  /** CRIU's log level (0-4) for the logs kept with each checkpoint. */
  readonly criuLogLevel: number;
  /** How long a Restore waits for a pid of the tree that is still a zombie to be reaped. */
  readonly pidWaitMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** How many CRIU operations (dump, pre-dump, restore) may run at once; the rest wait in line. */
  readonly maxConcurrentOperations: number;
  /** Retention: keep at most this many checkpoints, and at most this many bytes (0: no limit). */
  readonly retainMaxCount: number;
  readonly retainMaxBytes: number;
  /** Where Prometheus metrics are served over HTTP (GET /metrics); unset: no metrics listener. */
  readonly metricsListen?: HttpAddress;
}

/** A TCP address for a plain HTTP listener. */
export interface HttpAddress {
  readonly host: string;
  readonly port: number;
  /** As given, e.g. "127.0.0.1:9464". */
  readonly text: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULTS = {
  listen: 'unix:/run/criu-agent/agent.sock',
  stateDir: '/var/lib/criu-agent',
  socketMode: '0600',
  criuLogLevel: 4,
  pidWaitMs: 3000,
  logLevel: 'info',
  maxConcurrentOperations: 2,
  retainMaxCount: 0,
  retainMaxBytes: 0,
  /** Off: metrics are served only when asked for (--metrics-listen 127.0.0.1:9464). */
  metricsListen: '',
} as const;

/** Raw settings by name, as any source gives them (strings from env and flags). */
type Raw = Partial<Record<keyof typeof SOURCES, string | number>>;

/** Setting -> [environment variable, command-line flag]. */
const SOURCES = {
  listen: ['CRIU_AGENT_LISTEN', '--listen'],
  stateDir: ['CRIU_AGENT_STATE_DIR', '--state-dir'],
  criuPath: ['CRIU_AGENT_CRIU_PATH', '--criu-path'],
  criuSocket: ['CRIU_AGENT_CRIU_SOCKET', '--criu-socket'],
  socketMode: ['CRIU_AGENT_SOCKET_MODE', '--socket-mode'],
  criuLogLevel: ['CRIU_AGENT_CRIU_LOG_LEVEL', '--criu-log-level'],
  pidWaitMs: ['CRIU_AGENT_PID_WAIT_MS', '--pid-wait-ms'],
  logLevel: ['CRIU_AGENT_LOG_LEVEL', '--log-level'],
  maxConcurrentOperations: ['CRIU_AGENT_MAX_CONCURRENT_OPERATIONS', '--max-concurrent-operations'],
  retainMaxCount: ['CRIU_AGENT_RETAIN_MAX_COUNT', '--retain-max-count'],
  retainMaxBytes: ['CRIU_AGENT_RETAIN_MAX_BYTES', '--retain-max-bytes'],
  metricsListen: ['CRIU_AGENT_METRICS_LISTEN', '--metrics-listen'],
} as const;

type Key = keyof typeof SOURCES;
const KEYS = Object.keys(SOURCES) as Key[];

export interface ConfigSources {
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/** Where a setting's value came from. */
export type ConfigOrigin =
  { kind: 'default' } | { kind: 'file'; file: string } | { kind: 'env'; variable: string } | { kind: 'flag'; flag: string };

/** The effective config, each setting with its value as one would write it and where it came from (`criu-agent config print`). */
export interface ConfigReport {
  /** The JSON config file read (--config or CRIU_AGENT_CONFIG), if any. */
  configFile: string | null;
  settings: Record<Key, { value: string | number | null; source: string; env: string; flag: string }>;
}

/**
 * Builds the config from, in rising precedence: embedded defaults, a JSON file
 * (--config or CRIU_AGENT_CONFIG), environment variables, flags. Throws
 * ConfigError with a sentence naming the bad setting and its source.
 */
export function loadConfig(sources: ConfigSources = {}): AgentConfig {
  return resolveConfig(sources).config;
}

/** Like loadConfig (and as strict), and says where each value came from. */
export function reportConfig(sources: ConfigSources = {}): ConfigReport {
  const { config, origins, configFile, criuFound } = resolveConfig(sources);
  const shown: Record<Key, string | number | null> = {
    listen: config.listen.text,
    stateDir: config.stateDir,
    criuPath: config.criuPath,
    criuSocket: config.criuSocket ?? null,
    socketMode: '0' + config.socketMode.toString(8).padStart(3, '0'),
    criuLogLevel: config.criuLogLevel,
    pidWaitMs: config.pidWaitMs,
    logLevel: config.logLevel,
    maxConcurrentOperations: config.maxConcurrentOperations,
    retainMaxCount: config.retainMaxCount,
    retainMaxBytes: config.retainMaxBytes,
    metricsListen: config.metricsListen?.text ?? null,
  };
  const settings = {} as ConfigReport['settings'];
  for (const key of KEYS) {
    const origin = origins[key];
    let source = describeOrigin(origin, key);
    if (key === 'criuPath' && origin.kind === 'default') {
      source = criuFound ? 'default: the criu found on PATH' : 'default: no criu on PATH, where deploy/provision-criu.sh installs it';
    }
    settings[key] = { value: shown[key], source, env: SOURCES[key][0], flag: SOURCES[key][1] };
  }
  return { configFile: configFile ?? null, settings };
}

function describeOrigin(origin: ConfigOrigin, key: Key): string {
  switch (origin.kind) {
    case 'default':
      return 'default';
    case 'file':
      return `file ${origin.file}: ${key}`;
    case 'env':
      return `environment variable ${origin.variable}`;
    case 'flag':
      return `flag ${origin.flag}`;
  }
}

interface Resolved {
  config: AgentConfig;
  origins: Record<Key, ConfigOrigin>;
  configFile?: string;
  /** criuPath was found on PATH (rather than the fallback). */
  criuFound: boolean;
}

function resolveConfig({ argv = [], env = process.env }: ConfigSources): Resolved {
  const flags = parseFlags(argv);
  const configFile = flags.config ?? (env.CRIU_AGENT_CONFIG || undefined);
  const raw: Raw = { ...DEFAULTS };
  const origins = Object.fromEntries(KEYS.map((k) => [k, { kind: 'default' }])) as Record<Key, ConfigOrigin>;
  if (configFile) {
    for (const [k, v] of Object.entries(readConfigFile(configFile))) {
      raw[k as Key] = v;
      origins[k as Key] = { kind: 'file', file: configFile };
    }
  }
  for (const key of KEYS) {
    const [envName] = SOURCES[key];
    const v = env[envName];
    if (v !== undefined && v !== '') {
      raw[key] = v;
      origins[key] = { kind: 'env', variable: envName };
    }
  }
  for (const key of KEYS) {
    const flag = SOURCES[key][1];
    const v = flags.values[flag];
    if (v !== undefined) {
      raw[key] = v;
      origins[key] = { kind: 'flag', flag };
    }
  }
  // Error messages name the source: "flag --listen: ...", "/etc/criu-agent.json: listen: ...".
  const where = (k: Key): string => {
    const o = origins[k];
    return o.kind === 'default' ? `default ${k}` : o.kind === 'file' ? `${o.file}: ${k}` : describeOrigin(o, k);
  };

  let listen: ListenAddress;
  try {
    listen = parseListenAddress(String(raw.listen));
  } catch (err) {
    throw new ConfigError(`${where('listen')}: ${(err as Error).message}`);
  }
  const socketMode = parseInt(String(raw.socketMode), 8);
  if (!Number.isInteger(socketMode) || socketMode < 0 || socketMode > 0o777 || /[^0-7]/.test(String(raw.socketMode))) {
    throw new ConfigError(`${where('socketMode')}: ${String(raw.socketMode)} is not an octal file mode such as 0600 or 0660`);
  }
  for (const key of ['stateDir', 'criuPath', 'criuSocket', 'listen'] as const) {
    if (raw[key] !== undefined && String(raw[key]).trim() === '') throw new ConfigError(`${where(key)}: ${key} must not be empty`);
  }
  const criuSocket = raw.criuSocket === undefined ? undefined : String(raw.criuSocket);
  const found = raw.criuPath === undefined ? findCriu(env) : undefined;
  const config: AgentConfig = {
    listen,
    stateDir: path.resolve(String(raw.stateDir)),
    criuPath: raw.criuPath !== undefined ? String(raw.criuPath) : (found ?? FALLBACK_CRIU),
    criuSocket: criuSocket ? path.resolve(criuSocket) : undefined,
    socketMode,
    criuLogLevel: intIn(raw.criuLogLevel, 0, 4, where('criuLogLevel')),
    pidWaitMs: intIn(raw.pidWaitMs, 0, 600_000, where('pidWaitMs')),
    logLevel: oneOf(raw.logLevel, ['debug', 'info', 'warn', 'error'] as const, where('logLevel')),
    maxConcurrentOperations: intIn(raw.maxConcurrentOperations, 1, 64, where('maxConcurrentOperations')),
    retainMaxCount: intIn(raw.retainMaxCount, 0, 1_000_000, where('retainMaxCount')),
    retainMaxBytes: intIn(raw.retainMaxBytes, 0, Number.MAX_SAFE_INTEGER, where('retainMaxBytes')),
    metricsListen: parseHttpAddress(String(raw.metricsListen ?? ''), where('metricsListen')),
  };
  Object.freeze(config.listen);
  if (config.metricsListen) Object.freeze(config.metricsListen);
  return { config: Object.freeze(config), origins, configFile, criuFound: found !== undefined };
}

/**
 * `host:port` for the metrics listener, or "" / "off" for none. Unlike the
 * gRPC listener any host is accepted: the metrics are read-only counters
 * without pids or checkpoint ids, and a Prometheus server on another machine
 * must reach them. The default is off, so a non-loopback address is always
 * an explicit choice.
 */
export function parseHttpAddress(text: string, where: string): HttpAddress | undefined {
  const t = text.trim();
  if (t === '' || t === 'off') return undefined;
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(t);
  const host = m?.[1] ?? '';
  const port = Number(m?.[2]);
  if (!m || port > 65535) {
    throw new ConfigError(`${where}: ${JSON.stringify(text)} is not host:port (e.g. 127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464) or "off"`);
  }
  if (host.startsWith('[') && !net.isIPv6(host.slice(1, -1))) throw new ConfigError(`${where}: ${host} is not an IPv6 address`);
  if (!host.startsWith('[') && !net.isIPv4(host) && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    throw new ConfigError(`${where}: ${JSON.stringify(host)} is neither an IP address nor a host name`);
  }
  return { host, port, text: t };
}

/** Flags of the form `--name value` or `--name=value`; unknown flags are errors. */
function parseFlags(argv: readonly string[]): { config?: string; values: Record<string, string> } {
  const known = new Set<string>([...KEYS.map((k) => SOURCES[k][1]), '--config']);
  const values: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!known.has(name)) {
      throw new ConfigError(`unknown option ${JSON.stringify(name)}; known options: ${[...known].sort().join(', ')}`);
    }
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`option ${name} needs a value`);
    values[name] = value;
    value = undefined;
  }
  const { '--config': config, ...rest } = values;
  return { config, values: rest };
}

function readConfigFile(file: string): Record<string, string | number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file}: expected a JSON object of settings`);
  }
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!KEYS.includes(k as Key))
      throw new ConfigError(`config file ${file}: unknown setting ${JSON.stringify(k)}; known: ${KEYS.join(', ')}`);
    if (typeof v !== 'string' && typeof v !== 'number') throw new ConfigError(`config file ${file}: ${k} must be a string or a number`);
    out[k] = v;
  }
  return out;
}

function intIn(v: string | number | undefined, min: number, max: number, where: string): number {
  // Number('') is 0 and Number('0x10') is 16: only plain decimal digits are a number here.
  const n = typeof v === 'number' ? v : /^\d+$/.test(String(v).trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${where}: ${String(v)} is not a whole number from ${min} to ${max}`);
  return n;
}

function oneOf<T extends string>(v: string | number | undefined, allowed: readonly T[], where: string): T {
  if (!allowed.includes(v as T)) throw new ConfigError(`${where}: ${String(v)} is not one of ${allowed.join(', ')}`);
  return v as T;
}

const FALLBACK_CRIU = '/usr/local/sbin/criu';

/** `criu` on PATH (else the caller falls back to where deploy/provision-criu.sh installs it). */
function findCriu(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(':').filter(Boolean)) {
    const candidate = path.join(dir, 'criu');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
