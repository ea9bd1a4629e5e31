import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { parseListenAddress, type ListenAddress } from './listenAddress';
import { readPolicyFile, type Policy } from './policy';

/** The agent's settings, validated once at start and passed explicitly. */
export interface AgentConfig {
  /** Where gRPC is served: one or more unix sockets and TCP addresses (--listen, repeatable). */
  readonly listeners: readonly ListenAddress[];
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
  /** Group that owns the unix socket (name or gid); with it the socket's mode defaults to 0660. */
  readonly socketGroup?: { name: string; gid: number };
  /** TLS for every TCP listener: certificate chain and key (PEM), reloaded when the files change. */
  readonly tls?: TlsFiles;
  /** Who may call which RPC (--policy FILE) as loaded at start (the server re-reads the file when it changes); unset: the built-in default (see src/server/authz.ts). */
  readonly policy?: Policy;
  /** The file the policy came from, as given. */
  readonly policyFile?: string;
  /** Target guards: only processes in one of these cgroup v2 paths (prefixes) and/or owned by these uids; empty: any. */
  readonly allowCgroups?: readonly string[];
  readonly allowUids?: readonly number[];
  /** Calls of criu_agent.v1.CheckpointAgent one client identity may have in flight; beyond: RESOURCE_EXHAUSTED (loadConfig: 16). */
  readonly maxCallsPerClient?: number;
  /** Registries for PushCheckpoint/PullCheckpoint: auth file, plain-HTTP allow-list, CA per registry. */
  readonly registry?: RegistryConfig;
  /** Client TLS towards other agents (Migrate's destination); unset: peers over TCP only on loopback, in plaintext. */
  readonly peerTls?: PeerTlsFiles;
}

/**
 * PEM files the agent dials its peers with (absolute paths, read at each
 * migration so a renewed certificate is used at once). Any of them set: every
 * TCP peer is dialed over TLS; unix socket peers never are.
 */
export interface PeerTlsFiles {
  /** CA bundle the destination's certificate must chain to; unset: the system's roots. */
  readonly ca?: string;
  /** This agent's client certificate and key (mTLS): the destination's policy authorizes its identity. Both or neither. */
  readonly cert?: string;
  readonly key?: string;
}

/** How the agent talks to OCI registries (src/registry/). */
export interface RegistryConfig {
  /** A docker/podman auth file; unset: $REGISTRY_AUTH_FILE, containers' auth.json, ~/.docker/config.json. */
  readonly authFile?: string;
  /** Registries (host[:port]) reached over plain HTTP; every other one over HTTPS. */
  readonly insecure: readonly string[];
  /** host[:port] -> CA bundle (PEM) its certificate must chain to. */
  readonly caFiles: Readonly<Record<string, string>>;
}

/** PEM files of the TLS listener (absolute paths). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** CA bundle that client certificates must chain to: set, mTLS is required. */
  readonly clientCa?: string;
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
  maxCallsPerClient: 16,
} as const;

/** Raw settings by name, as any source gives them (strings from env and flags). */
type Raw = Partial<Record<keyof typeof SOURCES, string | number | string[]>>;

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
  socketGroup: ['CRIU_AGENT_SOCKET_GROUP', '--socket-group'],
  tlsCert: ['CRIU_AGENT_TLS_CERT', '--tls-cert'],
  tlsKey: ['CRIU_AGENT_TLS_KEY', '--tls-key'],
  tlsClientCa: ['CRIU_AGENT_TLS_CLIENT_CA', '--tls-client-ca'],
  policy: ['CRIU_AGENT_POLICY', '--policy'],
  allowCgroup: ['CRIU_AGENT_ALLOW_CGROUP', '--allow-cgroup'],
  allowUid: ['CRIU_AGENT_ALLOW_UID', '--allow-uid'],
  maxCallsPerClient: ['CRIU_AGENT_MAX_CALLS_PER_CLIENT', '--max-calls-per-client'],
  registryAuthFile: ['CRIU_AGENT_REGISTRY_AUTH_FILE', '--registry-auth-file'],
  registryInsecure: ['CRIU_AGENT_REGISTRY_INSECURE', '--registry-insecure'],
  registryCa: ['CRIU_AGENT_REGISTRY_CA', '--registry-ca'],
  peerTlsCa: ['CRIU_AGENT_PEER_TLS_CA', '--peer-tls-ca'],
  peerTlsCert: ['CRIU_AGENT_PEER_TLS_CERT', '--peer-tls-cert'],
  peerTlsKey: ['CRIU_AGENT_PEER_TLS_KEY', '--peer-tls-key'],
} as const;

/**
 * Settings that may be given more than once (`--allow-cgroup A --allow-cgroup B`);
 * in the environment they are comma-separated, in the file a JSON array.
 * Values from one source replace (not extend) those of a lower one.
 */
const REPEATABLE = new Set<string>(['listen', 'allowCgroup', 'allowUid', 'registryInsecure', 'registryCa']);

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
  settings: Record<Key, { value: string | number | (string | number)[] | null; source: string; env: string; flag: string }>;
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
  const shown: Record<Key, string | number | (string | number)[] | null> = {
    listen: config.listeners.map((l) => l.text),
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
    socketGroup: config.socketGroup?.name ?? null,
    tlsCert: config.tls?.cert ?? null,
    tlsKey: config.tls?.key ?? null,
    tlsClientCa: config.tls?.clientCa ?? null,
    policy: config.policyFile ?? null,
    allowCgroup: [...(config.allowCgroups ?? [])],
    allowUid: [...(config.allowUids ?? [])],
    maxCallsPerClient: config.maxCallsPerClient ?? DEFAULTS.maxCallsPerClient,
    registryAuthFile: config.registry?.authFile ?? null,
    registryInsecure: [...(config.registry?.insecure ?? [])],
    registryCa: Object.entries(config.registry?.caFiles ?? {}).map(([h, f]) => `${h}=${f}`),
    peerTlsCa: config.peerTls?.ca ?? null,
    peerTlsCert: config.peerTls?.cert ?? null,
    peerTlsKey: config.peerTls?.key ?? null,
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
      raw[key] = REPEATABLE.has(key) ? v.split(',').map((x) => x.trim()).filter(Boolean) : v;
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

  const str = (k: Key): string | undefined => {
    const v = raw[k];
    if (Array.isArray(v)) throw new ConfigError(`${where(k)}: ${k} takes one value, got ${v.length}`);
    return v === undefined || String(v).trim() === '' ? undefined : String(v);
  };
  const list = (k: Key): string[] => {
    const v = raw[k];
    return v === undefined ? [] : (Array.isArray(v) ? v : String(v).split(',')).map((x) => x.trim()).filter(Boolean);
  };

  // TLS first: whether a non-loopback TCP address is acceptable depends on it.
  const tlsCert = str('tlsCert');
  const tlsKey = str('tlsKey');
  const tlsClientCa = str('tlsClientCa');
  if (tlsCert && !tlsKey) throw new ConfigError(`${where('tlsCert')}: a TLS certificate needs its private key too (--tls-key FILE)`);
  if (tlsKey && !tlsCert) throw new ConfigError(`${where('tlsKey')}: a TLS private key needs its certificate too (--tls-cert FILE)`);
  if (tlsClientCa && !tlsCert) {
    throw new ConfigError(`${where('tlsClientCa')}: client certificates (mTLS) need TLS: give --tls-cert FILE and --tls-key FILE too`);
  }
  let tls: TlsFiles | undefined;
  if (tlsCert && tlsKey) {
    tls = {
      cert: readableFile(tlsCert, where('tlsCert'), 'TLS certificate'),
      key: readableFile(tlsKey, where('tlsKey'), 'TLS private key'),
      ...(tlsClientCa ? { clientCa: readableFile(tlsClientCa, where('tlsClientCa'), 'client CA bundle') } : {}),
    };
  }

  const listeners = parseListeners(list('listen'), tls !== undefined, where('listen'));
  if (tls && listeners.every((l) => l.kind === 'unix')) {
    throw new ConfigError(
      `${where('tlsCert')}: TLS applies to TCP listeners, but ${where('listen')} names only unix sockets ` +
        `(${listeners.map((l) => l.text).join(', ')}); add one such as --listen 0.0.0.0:50051`,
    );
  }
  const socketGroupName = str('socketGroup');
  const socketGroup = socketGroupName ? { name: socketGroupName, gid: resolveGroup(socketGroupName, where('socketGroup')) } : undefined;
  // With a group the socket is for the group's members too: 0660 unless a mode is set.
  const modeText = String(socketGroup && origins.socketMode.kind === 'default' ? '0660' : raw.socketMode);
  const socketMode = parseInt(modeText, 8);
  if (!Number.isInteger(socketMode) || socketMode < 0 || socketMode > 0o777 || /[^0-7]/.test(modeText)) {
    throw new ConfigError(`${where('socketMode')}: ${modeText} is not an octal file mode such as 0600 or 0660`);
  }
  for (const key of ['stateDir', 'criuPath', 'criuSocket'] as const) {
    if (raw[key] !== undefined && String(raw[key]).trim() === '') throw new ConfigError(`${where(key)}: ${key} must not be empty`);
  }
  const policyFile = str('policy');
  let policy: Policy | undefined;
  if (policyFile) {
    try {
      policy = readPolicyFile(policyFile);
    } catch (err) {
      throw new ConfigError(`${where('policy')}: ${(err as Error).message}`);
    }
  }
  const allowCgroups = list('allowCgroup').map((c) => {
    if (!c.startsWith('/')) throw new ConfigError(`${where('allowCgroup')}: ${JSON.stringify(c)} is not a cgroup v2 path (it starts with /, e.g. /kubepods.slice)`);
    return c.length > 1 ? c.replace(/\/+$/, '') : c;
  });
  const allowUids = list('allowUid').map((u) => intIn(u, 0, 0xfffffffe, where('allowUid')));
  const registryAuthFile = str('registryAuthFile');
  const registryInsecure = list('registryInsecure').map((h) => registryHost(h, where('registryInsecure')));
  const caFiles: Record<string, string> = {};
  for (const entry of list('registryCa')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${where('registryCa')}: ${JSON.stringify(entry)} is not HOST[:PORT]=/path/ca.pem`);
    const host = registryHost(entry.slice(0, eq), where('registryCa'));
    caFiles[host] = readableFile(entry.slice(eq + 1), where('registryCa'), `CA bundle of registry ${host}`);
  }
  const registry: RegistryConfig = Object.freeze({
    ...(registryAuthFile ? { authFile: path.resolve(registryAuthFile) } : {}),
    insecure: Object.freeze(registryInsecure),
    caFiles: Object.freeze(caFiles),
  });
  // Client TLS towards other agents: the same files as the server's may serve (a certificate valid for clientAuth too).
  const peerTlsCa = str('peerTlsCa');
  const peerTlsCert = str('peerTlsCert');
  const peerTlsKey = str('peerTlsKey');
  if (peerTlsCert && !peerTlsKey) throw new ConfigError(`${where('peerTlsCert')}: a client certificate for peers needs its private key too (--peer-tls-key FILE)`);
  if (peerTlsKey && !peerTlsCert) throw new ConfigError(`${where('peerTlsKey')}: a private key for peers needs its certificate too (--peer-tls-cert FILE)`);
  const peerTls: PeerTlsFiles | undefined =
    peerTlsCa || peerTlsCert
      ? Object.freeze({
          ...(peerTlsCa ? { ca: readableFile(peerTlsCa, where('peerTlsCa'), "CA bundle of the peers' certificates") } : {}),
          ...(peerTlsCert && peerTlsKey
            ? {
                cert: readableFile(peerTlsCert, where('peerTlsCert'), 'client certificate for peers'),
                key: readableFile(peerTlsKey, where('peerTlsKey'), 'private key for peers'),
              }
            : {}),
        })
      : undefined;
  const criuSocket = raw.criuSocket === undefined ? undefined : String(raw.criuSocket);
  const found = raw.criuPath === undefined ? findCriu(env) : undefined;
  const config: AgentConfig = {
    listeners: Object.freeze(listeners),
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
    socketGroup,
    tls,
    policy,
    policyFile,
    allowCgroups: Object.freeze(allowCgroups),
    allowUids: Object.freeze(allowUids),
    maxCallsPerClient: intIn(raw.maxCallsPerClient, 1, 10_000, where('maxCallsPerClient')),
    registry,
    peerTls,
  };
  for (const l of listeners) Object.freeze(l);
  if (config.metricsListen) Object.freeze(config.metricsListen);
  if (config.socketGroup) Object.freeze(config.socketGroup);
  if (config.tls) Object.freeze(config.tls);
  return { config: Object.freeze(config), origins, configFile, criuFound: found !== undefined };
}

/**
 * The gRPC listeners: each `unix:/path` or `host:port`, none twice. TLS, when
 * configured, applies to every TCP listener (a plaintext one would be a
 * second, weaker door to the same RPCs); without it TCP is loopback only.
 */
function parseListeners(texts: string[], tls: boolean, where: string): ListenAddress[] {
  if (texts.length === 0) throw new ConfigError(`${where}: listen must name at least one address (unix:/path or host:port)`);
  const listeners: ListenAddress[] = [];
  for (const text of texts) {
    let l: ListenAddress;
    try {
      l = parseListenAddress(text, { tls });
    } catch (err) {
      throw new ConfigError(`${where}: ${(err as Error).message}`);
    }
    const same = listeners.find((o) => (o.kind === 'unix' && l.kind === 'unix' ? o.path === l.path : o.text === l.text));
    if (same) throw new ConfigError(`${where}: ${l.text} is given twice`);
    listeners.push(l);
  }
  return listeners;
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

/** Flags of the form `--name value` or `--name=value`; unknown flags are errors; repeatable ones collect a list. */
function parseFlags(argv: readonly string[]): { config?: string; values: Record<string, string | string[]> } {
  const known = new Set<string>([...KEYS.map((k) => SOURCES[k][1]), '--config']);
  const repeatable = new Set<string>(KEYS.filter((k) => REPEATABLE.has(k)).map((k) => SOURCES[k][1]));
  const values: Record<string, string | string[]> = {};
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!known.has(name)) {
      throw new ConfigError(`unknown option ${JSON.stringify(name)}; known options: ${[...known].sort().join(', ')}`);
    }
    const value: string | undefined = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`option ${name} needs a value`);
    if (name === '--config') config = value;
    else if (repeatable.has(name)) values[name] = [...((values[name] as string[] | undefined) ?? []), value];
    else values[name] = value;
  }
  return { config, values };
}

/**
 * The JSON type each setting takes in the config file. A value of another
 * type stops the agent naming the key: a number for a path (`{"stateDir": 5}`)
 * would otherwise become a relative directory named "5".
 */
const FILE_TYPES: Record<Key, 'string' | 'integer' | 'string or integer' | 'list of strings' | 'list of integers'> = {
  listen: 'list of strings',
  stateDir: 'string',
  criuPath: 'string',
  criuSocket: 'string',
  // Octal text: the number 600 would be read as decimal by JSON.
  socketMode: 'string',
  criuLogLevel: 'integer',
  pidWaitMs: 'integer',
  logLevel: 'string',
  maxConcurrentOperations: 'integer',
  retainMaxCount: 'integer',
  retainMaxBytes: 'integer',
  metricsListen: 'string',
  // A group name or a numeric gid.
  socketGroup: 'string or integer',
  tlsCert: 'string',
  tlsKey: 'string',
  tlsClientCa: 'string',
  policy: 'string',
  allowCgroup: 'list of strings',
  allowUid: 'list of integers',
  maxCallsPerClient: 'integer',
  registryAuthFile: 'string',
  registryInsecure: 'list of strings',
  // HOST[:PORT]=/path/ca.pem entries, as --registry-ca takes them.
  registryCa: 'list of strings',
  peerTlsCa: 'string',
  peerTlsCert: 'string',
  peerTlsKey: 'string',
};

/** A JSON value as a person would name its type in a message. */
function jsonTypeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the fraction ${v}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return typeof v === 'object' ? 'an object' : `the ${typeof v} ${JSON.stringify(v)}`;
}

function readConfigFile(file: string): Record<string, string | number | string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file}: expected a JSON object of settings`);
  }
  const out: Record<string, string | number | string[]> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!KEYS.includes(k as Key))
      throw new ConfigError(`config file ${file}: unknown setting ${JSON.stringify(k)}; known: ${KEYS.join(', ')}`);
    const type = FILE_TYPES[k as Key];
    const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);
    const bad = (): never => {
      throw new ConfigError(`config file ${file}: ${k} must be ${type === 'integer' ? 'a whole number' : `a ${type}`}, not ${jsonTypeOf(v)}`);
    };
    switch (type) {
      case 'string':
        if (typeof v !== 'string') bad();
        break;
      case 'integer':
        // "3" as well as 3: intIn checks the digits, as for the environment.
        if (!isInt(v) && typeof v !== 'string') bad();
        break;
      case 'string or integer':
        if (typeof v !== 'string' && !isInt(v)) bad();
        break;
      case 'list of strings':
        // One value may be given without the list.
        if (!(typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')))) bad();
        break;
      case 'list of integers':
        if (!(isInt(v) || (Array.isArray(v) && v.every(isInt)))) bad();
        break;
    }
    out[k] = Array.isArray(v) ? v.map(String) : (v as string | number);
  }
  return out;
}

/** An absolute path to a file the agent can read now (it is read again whenever it changes). */
function readableFile(file: string, where: string, what: string): string {
  const abs = path.resolve(file);
  try {
    fs.accessSync(abs, fs.constants.R_OK);
    if (!fs.statSync(abs).isFile()) throw new Error('not a regular file');
  } catch (err) {
    throw new ConfigError(`${where}: the ${what} ${abs} cannot be read: ${(err as Error).message}`);
  }
  return abs;
}

/** A group name (looked up in /etc/group) or a numeric gid. */
function resolveGroup(name: string, where: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  let text = '';
  try {
    text = fs.readFileSync('/etc/group', 'utf8');
  } catch {
    // no /etc/group: only numeric gids work
  }
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new ConfigError(`${where}: there is no group ${JSON.stringify(name)} in /etc/group (give a group name or a numeric gid)`);
}

function intIn(v: string | number | string[] | undefined, min: number, max: number, where: string): number {
  // Number('') is 0 and Number('0x10') is 16: only plain decimal digits are a number here.
  const n = typeof v === 'number' ? v : /^\d+$/.test(String(v).trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${where}: ${String(v)} is not a whole number from ${min} to ${max}`);
  return n;
}

function oneOf<T extends string>(v: string | number | string[] | undefined, allowed: readonly T[], where: string): T {
  if (!allowed.includes(v as T)) throw new ConfigError(`${where}: ${String(v)} is not one of ${allowed.join(', ')}`);
  return v as T;
}

/** A registry as references name it: host[:port], e.g. "registry.example:5000". */
function registryHost(text: string, where: string): string {
  const h = text.trim();
  if (!/^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(h)) {
    throw new ConfigError(`${where}: ${JSON.stringify(text)} is not a registry host[:port] such as registry.example:5000`);
  }
  return h;
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
