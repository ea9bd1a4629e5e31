import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ConfigError, DEFAULTS, loadConfig, reportConfig, type AgentConfig } from '../../src/config';
import { parseListenAddress } from '../../src/listenAddress';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'config-test-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a JSON config file into the test's temp dir and returns its path. */
function configFile(content: unknown, name = 'agent.json'): string {
  const file = path.join(tmp, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** The ConfigError loadConfig throws for these sources (fails the test if it does not throw one). */
function configError(argv: string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  let caught: unknown;
  try {
    loadConfig({ argv, env });
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  return caught as ConfigError;
}

// An empty env: no PATH, so criuPath falls back to the provisioned location.
const NO_ENV: NodeJS.ProcessEnv = {};

describe('loadConfig defaults', () => {
  it('uses the embedded defaults when no source sets anything', () => {
    const c = loadConfig({ argv: [], env: NO_ENV });
    expect(c.listeners).toEqual([{ kind: 'unix', path: '/run/criu-agent/agent.sock', text: DEFAULTS.listen }]);
    expect(c.stateDir).toBe('/var/lib/criu-agent');
    expect(c.socketMode).toBe(0o600);
    expect(c.criuLogLevel).toBe(4);
    expect(c.pidWaitMs).toBe(3000);
    expect(c.logLevel).toBe('info');
    expect(c.criuSocket).toBeUndefined();
    expect(c.criuPath).toBe('/usr/local/sbin/criu');
  });

  it('finds criu on PATH when --criu-path is not given', () => {
    const bin = path.join(tmp, 'bin');
    const notExec = path.join(tmp, 'noexec');
    mkdirSync(bin);
    mkdirSync(notExec);
    writeFileSync(path.join(notExec, 'criu'), '#!/bin/sh\n');
    chmodSync(path.join(notExec, 'criu'), 0o644);
    writeFileSync(path.join(bin, 'criu'), '#!/bin/sh\n');
    chmodSync(path.join(bin, 'criu'), 0o755);
    // root passes X_OK only for files with some execute bit, so the 0644 one is skipped.
    const c = loadConfig({ argv: [], env: { PATH: `${path.join(tmp, 'missing')}:${notExec}:${bin}` } });
    expect(c.criuPath).toBe(path.join(bin, 'criu'));
  });

  it('returns a frozen object', () => {
    const c = loadConfig({ argv: [], env: NO_ENV });
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c as { -readonly [K in keyof AgentConfig]: AgentConfig[K] }).pidWaitMs = 1;
    }).toThrow(TypeError);
    expect(c.pidWaitMs).toBe(3000);
  });
});

describe('loadConfig precedence: defaults < JSON file < env < flags', () => {
  it('takes each setting from the highest source that sets it', () => {
    const file = configFile({
      logLevel: 'warn', // file only
      criuLogLevel: 1, // file, overridden by env
      pidWaitMs: 111, // file, env, overridden by flag
      stateDir: '/srv/from-file',
    });
    const c = loadConfig({
      argv: ['--config', file, '--pid-wait-ms', '333'],
      env: { CRIU_AGENT_CRIU_LOG_LEVEL: '2', CRIU_AGENT_PID_WAIT_MS: '222', CRIU_AGENT_SOCKET_MODE: '0660' },
    });
    expect(c.logLevel).toBe('warn');
    expect(c.criuLogLevel).toBe(2);
    expect(c.pidWaitMs).toBe(333);
    expect(c.stateDir).toBe('/srv/from-file');
    expect(c.socketMode).toBe(0o660); // env only
    expect(c.listeners.map((l) => l.text)).toEqual([DEFAULTS.listen]); // default only
  });

  it('reads the file named by CRIU_AGENT_CONFIG, and --config wins over it', () => {
    const fromEnv = configFile({ logLevel: 'debug' }, 'env.json');
    const fromFlag = configFile({ logLevel: 'error' }, 'flag.json');
    expect(loadConfig({ argv: [], env: { CRIU_AGENT_CONFIG: fromEnv } }).logLevel).toBe('debug');
    expect(loadConfig({ argv: ['--config', fromFlag], env: { CRIU_AGENT_CONFIG: fromEnv } }).logLevel).toBe('error');
  });

  it('accepts both --flag value and --flag=value', () => {
    const c = loadConfig({ argv: ['--log-level=debug', '--criu-log-level', '0', '--listen=127.0.0.1:0'], env: NO_ENV });
    expect(c.logLevel).toBe('debug');
    expect(c.criuLogLevel).toBe(0);
    expect(c.listeners).toEqual([{ kind: 'tcp', host: '127.0.0.1', port: 0, text: '127.0.0.1:0', loopback: true }]);
  });

  it('ignores empty environment variables', () => {
    const c = loadConfig({ argv: [], env: { CRIU_AGENT_LOG_LEVEL: '', CRIU_AGENT_CRIU_SOCKET: '' } });
    expect(c.logLevel).toBe('info');
    expect(c.criuSocket).toBeUndefined();
  });

  it('resolves stateDir and criuSocket to absolute paths and takes criuPath as given', () => {
    const c = loadConfig({
      argv: ['--state-dir', 'rel/state', '--criu-socket', 'rel/criu.sock', '--criu-path', 'my-criu'],
      env: NO_ENV,
    });
    expect(c.stateDir).toBe(path.resolve('rel/state'));
    expect(c.criuSocket).toBe(path.resolve('rel/criu.sock'));
    expect(c.criuPath).toBe('my-criu');
  });

  it('accepts numbers as JSON numbers or strings in the file', () => {
    const c = loadConfig({ argv: ['--config', configFile({ criuLogLevel: '3', pidWaitMs: 0, socketMode: '0640' })], env: NO_ENV });
    expect(c.criuLogLevel).toBe(3);
    expect(c.pidWaitMs).toBe(0);
    expect(c.socketMode).toBe(0o640);
  });
});

describe('loadConfig validation names the source and the bad value', () => {
  it.each<[string, string[], NodeJS.ProcessEnv, RegExp]>([
    ['flag criuLogLevel', ['--criu-log-level', '9'], {}, /^flag --criu-log-level: 9 is not a whole number from 0 to 4$/],
    [
      'env criuLogLevel',
      [],
      { CRIU_AGENT_CRIU_LOG_LEVEL: '-1' },
      /^environment variable CRIU_AGENT_CRIU_LOG_LEVEL: -1 is not a whole number/,
    ],
    ['flag pidWaitMs', ['--pid-wait-ms=1.5'], {}, /^flag --pid-wait-ms: 1\.5 is not a whole number from 0 to 600000$/],
    ['env pidWaitMs', [], { CRIU_AGENT_PID_WAIT_MS: 'soon' }, /^environment variable CRIU_AGENT_PID_WAIT_MS: soon is not a whole number/],
    ['flag logLevel', ['--log-level', 'loud'], {}, /^flag --log-level: loud is not one of debug, info, warn, error$/],
    ['env logLevel', [], { CRIU_AGENT_LOG_LEVEL: 'INFO' }, /^environment variable CRIU_AGENT_LOG_LEVEL: INFO is not one of/],
    ['flag socketMode (digit 8)', ['--socket-mode', '0800'], {}, /^flag --socket-mode: 0800 is not an octal file mode/],
    ['flag socketMode (0o prefix)', ['--socket-mode', '0o600'], {}, /^flag --socket-mode: 0o600 is not an octal file mode/],
    [
      'env socketMode (too large)',
      [],
      { CRIU_AGENT_SOCKET_MODE: '1777' },
      /^environment variable CRIU_AGENT_SOCKET_MODE: 1777 is not an octal/,
    ],
    [
      'flag listen (public TCP)',
      ['--listen', '0.0.0.0:50051'],
      {},
      /^flag --listen: listen address "0\.0\.0\.0:50051": plaintext TCP is only allowed on loopback/,
    ],
    [
      'env listen (relative unix)',
      [],
      { CRIU_AGENT_LISTEN: 'unix:agent.sock' },
      /^environment variable CRIU_AGENT_LISTEN: listen address "unix:agent\.sock": the unix socket path must be absolute/,
    ],
  ])('%s', (_name, argv, env, message) => {
    expect(configError(argv, env).message).toMatch(message);
  });

  it('names the file and the key for a bad value in the config file', () => {
    const file = configFile({ logLevel: 'chatty' });
    expect(configError(['--config', file]).message).toBe(`${file}: logLevel: chatty is not one of debug, info, warn, error`);
    const file2 = configFile({ listen: '10.0.0.1:1' }, 'listen.json');
    expect(configError(['--config', file2]).message).toMatch(
      new RegExp(`^${file2.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: listen: listen address "10\\.0\\.0\\.1:1": plaintext TCP`),
    );
    const file3 = configFile({ criuLogLevel: 7 }, 'level.json');
    expect(configError(['--config', file3]).message).toBe(`${file3}: criuLogLevel: 7 is not a whole number from 0 to 4`);
  });

  it('a higher source that fixes a bad lower value wins (validation happens after merging)', () => {
    const file = configFile({ logLevel: 'chatty' });
    expect(loadConfig({ argv: ['--config', file, '--log-level', 'warn'], env: NO_ENV }).logLevel).toBe('warn');
  });

  it('refuses unknown flags, listing the known ones', () => {
    const err = configError(['--bogus', '1']);
    expect(err.message).toMatch(/^unknown option "--bogus"; known options: /);
    expect(err.message).toContain('--listen');
    expect(err.message).toContain('--config');
    expect(configError(['--bogus=1']).message).toMatch(/^unknown option "--bogus"/);
    // Env-style names and stray positionals are not options either.
    expect(configError(['listen']).message).toMatch(/^unknown option "listen"/);
  });

  it('refuses a flag without a value', () => {
    expect(configError(['--listen']).message).toBe('option --listen needs a value');
  });

  it('refuses unknown keys in the config file', () => {
    const file = configFile({ listen: 'unix:/run/x.sock', colour: 'blue' });
    const err = configError(['--config', file]);
    expect(err.message).toMatch(/unknown setting "colour"/);
    expect(err.message).toContain(file);
  });

  // Every setting, with a value of a JSON type it does not take: the agent must
  // not start (a number for stateDir used to become a directory named "5").
  it.each<[string, unknown]>([
    ['listen', 5],
    ['listen', [5]],
    ['stateDir', 5],
    ['criuPath', true],
    ['criuSocket', 1],
    ['socketMode', 600],
    ['criuLogLevel', 2.5],
    ['criuLogLevel', true],
    ['pidWaitMs', null],
    ['logLevel', 1],
    ['maxConcurrentOperations', [2]],
    ['retainMaxCount', {}],
    ['retainMaxBytes', false],
    ['metricsListen', 9464],
    ['socketGroup', ['adm']],
    ['tlsCert', 1],
    ['tlsKey', []],
    ['tlsClientCa', 0],
    ['policy', {}],
    ['allowCgroup', 7],
    ['allowCgroup', ['/a', 7]],
    ['allowUid', 'x'],
    ['allowUid', ['7']],
    ['maxCallsPerClient', 1.5],
    ['registryAuthFile', 3],
    ['registryInsecure', 5000],
    ['registryCa', [{ host: 'a' }]],
    ['peerTlsCa', 1],
    ['peerTlsCert', ['a']],
    ['peerTlsKey', {}],
  ])('refuses %s: %j in the config file, naming the key', (key, value) => {
    const file = configFile({ [key]: value }, `${key}.json`);
    const err = configError(['--config', file]);
    expect(err.message).toMatch(new RegExp(`^config file ${file}: ${key} must be `));
  });

  it('checks the type of every setting (a test above covers each key)', () => {
    const covered = new Set(['listen', 'stateDir', 'criuPath', 'criuSocket', 'socketMode', 'criuLogLevel', 'pidWaitMs', 'logLevel',
      'maxConcurrentOperations', 'retainMaxCount', 'retainMaxBytes', 'metricsListen', 'socketGroup', 'tlsCert', 'tlsKey', 'tlsClientCa',
      'policy', 'allowCgroup', 'allowUid', 'maxCallsPerClient', 'registryAuthFile', 'registryInsecure', 'registryCa', 'peerTlsCa',
      'peerTlsCert', 'peerTlsKey']);
    expect(Object.keys(reportConfig({ argv: [], env: NO_ENV }).settings).filter((k) => !covered.has(k))).toEqual([]);
  });

  it('refuses a config file that is not a JSON object of strings and numbers', () => {
    expect(configError(['--config', configFile([1, 2], 'array.json')]).message).toMatch(/expected a JSON object of settings/);
    expect(configError(['--config', configFile('null', 'null.json')]).message).toMatch(/expected a JSON object of settings/);
    expect(configError(['--config', configFile('{ not json', 'broken.json')]).message).toMatch(/^config file .*broken\.json: /);
    expect(configError(['--config', configFile({ logLevel: true }, 'bool.json')]).message).toMatch(/logLevel must be a string, not the boolean true/);
    const missing = path.join(tmp, 'missing.json');
    expect(configError(['--config', missing]).message).toMatch(new RegExp(`^config file ${missing}: .*ENOENT`));
  });
});

describe('parseListenAddress', () => {
  it.each<[string, object]>([
    ['127.0.0.1:0', { kind: 'tcp', host: '127.0.0.1', port: 0, loopback: true }],
    ['[::1]:50051', { kind: 'tcp', host: '[::1]', port: 50051, loopback: true }],
    ['localhost:1', { kind: 'tcp', host: 'localhost', port: 1, loopback: true }],
    ['127.3.2.1:65535', { kind: 'tcp', host: '127.3.2.1', port: 65535, loopback: true }],
    ['unix:/run/criu-agent/agent.sock', { kind: 'unix', path: '/run/criu-agent/agent.sock' }],
  ])('accepts %s', (text, want) => {
    expect(parseListenAddress(text)).toEqual({ ...want, text });
  });

  it.each<[string, RegExp]>([
    ['0.0.0.0:1', /plaintext TCP is only allowed on loopback/],
    ['10.0.0.1:1', /plaintext TCP is only allowed on loopback/],
    ['[::]:1', /plaintext TCP is only allowed on loopback/],
    ['example.com:443', /plaintext TCP is only allowed on loopback/],
    ['127.0.0.1.example.com:1', /plaintext TCP is only allowed on loopback/],
    ['[::ffff:10.0.0.1]:1', /plaintext TCP is only allowed on loopback/],
    ['127.0.0.1:65536', /port 65536 is out of range/],
    ['unix:relative/agent.sock', /unix socket path must be absolute/],
    ['unix:', /unix socket path must be absolute/],
    ['127.0.0.1', /neither unix:\/path nor host:port/],
    ['::1:50051', /neither unix:\/path nor host:port/],
    ['127.0.0.1:-1', /neither unix:\/path nor host:port/],
    ['', /neither unix:\/path nor host:port/],
  ])('refuses %j', (text, message) => {
    expect(() => parseListenAddress(text)).toThrow(message);
  });
});

describe('metricsListen', () => {
  it('is off by default', () => {
    expect(loadConfig({ argv: [], env: NO_ENV }).metricsListen).toBeUndefined();
    expect(loadConfig({ argv: ['--metrics-listen', 'off'], env: NO_ENV }).metricsListen).toBeUndefined();
  });

  it.each<[string, object]>([
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['[::1]:9464', { host: '[::1]', port: 9464 }],
    ['0.0.0.0:9464', { host: '0.0.0.0', port: 9464 }],
    ['node-1.example:0', { host: 'node-1.example', port: 0 }],
  ])('accepts %s (any host: it is only ever set explicitly)', (text, want) => {
    expect(loadConfig({ argv: ['--metrics-listen', text], env: NO_ENV }).metricsListen).toEqual({ ...want, text });
  });

  it('comes from the environment and the file too', () => {
    expect(loadConfig({ argv: [], env: { CRIU_AGENT_METRICS_LISTEN: '127.0.0.1:1' } }).metricsListen?.port).toBe(1);
    expect(loadConfig({ argv: ['--config', configFile({ metricsListen: '127.0.0.1:2' })], env: NO_ENV }).metricsListen?.port).toBe(2);
  });

  it.each<[string, RegExp]>([
    ['9464', /^flag --metrics-listen: "9464" is not host:port/],
    ['127.0.0.1:65536', /^flag --metrics-listen: "127\.0\.0\.1:65536" is not host:port/],
    ['[nope]:1', /^flag --metrics-listen: \[nope\] is not an IPv6 address/],
    ['bad host!:1', /^flag --metrics-listen: "bad host!" is neither an IP address nor a host name/],
    ['unix:/run/m.sock', /is not host:port/],
  ])('refuses %j, naming the source', (text, message) => {
    expect(configError(['--metrics-listen', text]).message).toMatch(message);
  });
});

describe('reportConfig (criu-agent config print)', () => {
  it('gives each setting its value as one would write it and where it came from', () => {
    const file = configFile({ pidWaitMs: 5, logLevel: 'error' });
    const r = reportConfig({
      argv: ['--config', file, '--state-dir', '/srv/criu', '--metrics-listen', '127.0.0.1:9464'],
      env: { CRIU_AGENT_LOG_LEVEL: 'warn', CRIU_AGENT_SOCKET_MODE: '660' },
    });
    expect(r.configFile).toBe(file);
    expect(r.settings.stateDir).toEqual({
      value: '/srv/criu',
      source: 'flag --state-dir',
      env: 'CRIU_AGENT_STATE_DIR',
      flag: '--state-dir',
    });
    expect(r.settings.logLevel).toMatchObject({ value: 'warn', source: 'environment variable CRIU_AGENT_LOG_LEVEL' });
    expect(r.settings.pidWaitMs).toMatchObject({ value: 5, source: `file ${file}: pidWaitMs` });
    expect(r.settings.socketMode).toMatchObject({ value: '0660', source: 'environment variable CRIU_AGENT_SOCKET_MODE' });
    expect(r.settings.listen).toMatchObject({ value: [DEFAULTS.listen], source: 'default' });
    expect(r.settings.metricsListen).toMatchObject({ value: '127.0.0.1:9464', source: 'flag --metrics-listen' });
    expect(r.settings.criuSocket).toMatchObject({ value: null, source: 'default' });
    expect(Object.keys(r.settings).sort()).toEqual(
      [
        'criuLogLevel',
        'criuPath',
        'criuSocket',
        'listen',
        'logLevel',
        'maxConcurrentOperations',
        'metricsListen',
        'pidWaitMs',
        'retainMaxBytes',
        'retainMaxCount',
        'socketMode',
        'stateDir',
        'socketGroup',
        'tlsCert',
        'tlsKey',
        'tlsClientCa',
        'policy',
        'allowCgroup',
        'allowUid',
        'maxCallsPerClient',
        'registryAuthFile',
        'registryInsecure',
        'registryCa',
        'peerTlsCa',
        'peerTlsCert',
        'peerTlsKey',
      ].sort(),
    );
  });

  it('says whether the default criuPath was found on PATH', () => {
    expect(reportConfig({ argv: [], env: NO_ENV }).settings.criuPath).toMatchObject({
      value: '/usr/local/sbin/criu',
      source: expect.stringMatching(/^default: no criu on PATH/) as unknown,
    });
    const bin = path.join(tmp, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'criu'), '#!/bin/sh\n');
    chmodSync(path.join(bin, 'criu'), 0o755);
    expect(reportConfig({ argv: [], env: { PATH: bin } }).settings.criuPath).toEqual(
      expect.objectContaining({ value: path.join(bin, 'criu'), source: 'default: the criu found on PATH' }),
    );
  });

  it('is as strict as loadConfig', () => {
    expect(() => reportConfig({ argv: ['--pid-wait-ms', 'soon'], env: NO_ENV })).toThrow(ConfigError);
    expect(() => reportConfig({ argv: ['--nope', '1'], env: NO_ENV })).toThrow(/unknown option "--nope"/);
  });
});

describe('security settings (issue #5)', () => {
  /** A file in the temp dir with this content. */
  const file = (name: string, content = 'x'): string => {
    const f = path.join(tmp, name);
    writeFileSync(f, content);
    return f;
  };

  it('has no TLS, no policy, no target restriction and 16 calls per client by default', () => {
    const c = loadConfig({ argv: [], env: NO_ENV });
    expect(c.tls).toBeUndefined();
    expect(c.policy).toBeUndefined();
    expect(c.allowCgroups).toEqual([]);
    expect(c.allowUids).toEqual([]);
    expect(c.maxCallsPerClient).toBe(16);
    expect(c.socketMode).toBe(0o600);
  });

  it('accepts any TCP address with TLS, and keeps the key, certificate and client CA as absolute paths', () => {
    const cert = file('cert.pem');
    const key = file('key.pem');
    const ca = file('ca.pem');
    const c = loadConfig({ argv: ['--listen', '0.0.0.0:50051', '--tls-cert', cert, '--tls-key', key, '--tls-client-ca', ca], env: NO_ENV });
    expect(c.listeners).toEqual([{ kind: 'tcp', host: '0.0.0.0', port: 50051, text: '0.0.0.0:50051', loopback: false }]);
    expect(c.tls).toEqual({ cert, key, clientCa: ca });
    expect(Object.isFrozen(c.tls)).toBe(true);
  });

  it('requires TLS on a non-loopback address', () => {
    expect(configError(['--listen', '10.0.0.1:50051']).message).toMatch(
      /^flag --listen: .*plaintext TCP is only allowed on loopback .*TLS is required on any other address \(--tls-cert FILE --tls-key FILE\)/,
    );
  });

  it('refuses a certificate without its key, a key without its certificate, and a client CA without TLS', () => {
    const cert = file('cert.pem');
    expect(configError(['--listen', '127.0.0.1:1', '--tls-cert', cert]).message).toBe(
      'flag --tls-cert: a TLS certificate needs its private key too (--tls-key FILE)',
    );
    expect(configError(['--listen', '127.0.0.1:1', '--tls-key', cert]).message).toBe(
      'flag --tls-key: a TLS private key needs its certificate too (--tls-cert FILE)',
    );
    expect(configError(['--listen', '127.0.0.1:1', '--tls-client-ca', cert]).message).toMatch(/^flag --tls-client-ca: client certificates \(mTLS\) need TLS/);
  });

  it('refuses unreadable TLS files, naming the file', () => {
    const key = file('key.pem');
    const missing = path.join(tmp, 'nope.pem');
    expect(configError(['--listen', '127.0.0.1:1', '--tls-cert', missing, '--tls-key', key]).message).toMatch(
      new RegExp(`^flag --tls-cert: the TLS certificate ${missing} cannot be read: ENOENT`),
    );
    const unreadable = file('unreadable.pem');
    chmodSync(unreadable, 0o000);
    if (process.getuid?.() !== 0) {
      expect(configError(['--listen', '127.0.0.1:1', '--tls-cert', file('c.pem'), '--tls-key', unreadable]).message).toMatch(
        /^flag --tls-key: the TLS private key .* cannot be read: EACCES/,
      );
    }
    expect(configError(['--listen', '127.0.0.1:1', '--tls-cert', tmp, '--tls-key', key]).message).toMatch(/cannot be read: not a regular file/);
  });

  it('refuses TLS without a TCP listener to apply it to', () => {
    expect(configError(['--tls-cert', file('c.pem'), '--tls-key', file('k.pem')]).message).toMatch(
      /^flag --tls-cert: TLS applies to TCP listeners, but default listen names only unix sockets \(unix:\/run\/criu-agent\/agent.sock\); add one such as --listen 0.0.0.0:50051$/,
    );
  });

  it('serves several listeners: repeated --listen, a comma-separated CRIU_AGENT_LISTEN, a list in the file', () => {
    const both = ['unix:/run/x/agent.sock', '0.0.0.0:50051'];
    const tlsArgs = ['--tls-cert', file('c.pem'), '--tls-key', file('k.pem'), '--tls-client-ca', file('ca.pem')];
    const fromFlags = loadConfig({ argv: ['--listen', both[0] ?? '', '--listen', both[1] ?? '', ...tlsArgs], env: NO_ENV });
    expect(fromFlags.listeners.map((l) => l.text)).toEqual(both);
    expect(fromFlags.listeners.map((l) => l.kind)).toEqual(['unix', 'tcp']);
    expect(Object.isFrozen(fromFlags.listeners)).toBe(true);
    expect(loadConfig({ argv: tlsArgs, env: { CRIU_AGENT_LISTEN: both.join(',') } }).listeners.map((l) => l.text)).toEqual(both);
    expect(loadConfig({ argv: ['--config', configFile({ listen: both }, 'listen.json'), ...tlsArgs], env: NO_ENV }).listeners.map((l) => l.text)).toEqual(both);
    // Flags replace the environment's list rather than adding to it.
    expect(loadConfig({ argv: ['--listen', '127.0.0.1:1'], env: { CRIU_AGENT_LISTEN: both[0] } }).listeners.map((l) => l.text)).toEqual(['127.0.0.1:1']);
    expect(reportConfig({ argv: ['--listen', both[0] ?? '', '--listen', '127.0.0.1:1'], env: NO_ENV }).settings.listen.value).toEqual([both[0], '127.0.0.1:1']);
  });

  it('refuses a plaintext non-loopback listener next to a unix socket, and the same address twice', () => {
    expect(configError(['--listen', 'unix:/run/x.sock', '--listen', '0.0.0.0:50051']).message).toMatch(
      /^flag --listen: listen address "0.0.0.0:50051": plaintext TCP is only allowed on loopback/,
    );
    expect(configError(['--listen', 'unix:/run/x.sock', '--listen', 'unix:/run/x.sock']).message).toBe('flag --listen: unix:/run/x.sock is given twice');
    expect(configError(['--listen', '127.0.0.1:7000', '--listen=127.0.0.1:7000']).message).toBe('flag --listen: 127.0.0.1:7000 is given twice');
  });

  it('collects repeated --allow-cgroup and --allow-uid, from flags, the environment and the file', () => {
    const c = loadConfig({ argv: ['--allow-cgroup', '/kubepods.slice/', '--allow-cgroup=/system.slice/a.service', '--allow-uid', '0', '--allow-uid', '1000'], env: NO_ENV });
    expect(c.allowCgroups).toEqual(['/kubepods.slice', '/system.slice/a.service']);
    expect(c.allowUids).toEqual([0, 1000]);
    expect(loadConfig({ argv: [], env: { CRIU_AGENT_ALLOW_UID: '5, 6' } }).allowUids).toEqual([5, 6]);
    const f = configFile({ allowCgroup: ['/a', '/b'], allowUid: [7] });
    expect(loadConfig({ argv: ['--config', f], env: NO_ENV })).toMatchObject({ allowCgroups: ['/a', '/b'], allowUids: [7] });
    expect(reportConfig({ argv: ['--allow-uid', '3'], env: NO_ENV }).settings.allowUid).toMatchObject({ value: [3], source: 'flag --allow-uid' });
  });

  it('refuses a relative cgroup, a non-numeric uid, and a single-valued flag given twice keeps the last', () => {
    expect(configError(['--allow-cgroup', 'kubepods']).message).toMatch(/^flag --allow-cgroup: "kubepods" is not a cgroup v2 path/);
    expect(configError(['--allow-uid', 'root']).message).toMatch(/^flag --allow-uid: root is not a whole number/);
    expect(configError(['--max-calls-per-client', '0']).message).toBe('flag --max-calls-per-client: 0 is not a whole number from 1 to 10000');
  });

  it('uses 0660 for a socket with a group unless a mode is set, and resolves the group', () => {
    const c = loadConfig({ argv: ['--socket-group', 'root'], env: NO_ENV });
    expect(c.socketGroup).toEqual({ name: 'root', gid: 0 });
    expect(c.socketMode).toBe(0o660);
    expect(loadConfig({ argv: ['--socket-group', '1234', '--socket-mode', '0640'], env: NO_ENV }).socketMode).toBe(0o640);
    expect(configError(['--socket-group', 'no-such-group-here']).message).toMatch(/^flag --socket-group: there is no group "no-such-group-here"/);
  });

  it('loads and checks the policy file', () => {
    const good = file('policy.json', JSON.stringify({ roles: { reader: ['Check'], operator: ['*'] }, bindings: [{ identity: 'unix', role: 'operator' }] }));
    const c = loadConfig({ argv: ['--policy', good], env: NO_ENV });
    expect(c.policy).toEqual({ roles: { reader: ['Check'], operator: ['*'] }, bindings: [{ identity: 'unix', role: 'operator' }], unixIdentity: 'unix' });
    expect(c.policyFile).toBe(good);
    const bad = file('bad.json', JSON.stringify({ roles: { r: ['Dumpp'] }, bindings: [] }));
    expect(configError(['--policy', bad]).message).toMatch(/^flag --policy: policy file .*bad.json: roles.r: "Dumpp" is not an RPC of criu_agent.v1.CheckpointAgent/);
    expect(configError(['--policy', path.join(tmp, 'none.json')]).message).toMatch(/^flag --policy: cannot read the policy file .*none.json: ENOENT/);
    const unbound = file('unbound.json', JSON.stringify({ roles: {}, bindings: [{ identity: 'x', role: 'admin' }] }));
    expect(configError(['--policy', unbound]).message).toMatch(/bindings\[0\]: no role "admin"/);
  });
});

describe('client TLS towards peers (Migrate, issue #13)', () => {
  const file = (name: string): string => {
    const f = path.join(tmp, name);
    writeFileSync(f, 'x');
    return f;
  };

  it('has none by default: peers are dialed in plaintext (unix, loopback)', () => {
    expect(loadConfig({ argv: [], env: NO_ENV }).peerTls).toBeUndefined();
  });

  it('takes the CA, certificate and key from flags, the environment or the file, as absolute paths', () => {
    const [ca, cert, key] = [file('ca.pem'), file('me.pem'), file('me.key')];
    const fromFlags = loadConfig({ argv: ['--peer-tls-ca', ca, '--peer-tls-cert', cert, '--peer-tls-key', key], env: NO_ENV });
    expect(fromFlags.peerTls).toEqual({ ca, cert, key });
    expect(Object.isFrozen(fromFlags.peerTls)).toBe(true);
    expect(loadConfig({ argv: [], env: { CRIU_AGENT_PEER_TLS_CA: ca } }).peerTls).toEqual({ ca });
    const fromFile = loadConfig({ argv: ['--config', configFile({ peerTlsCert: cert, peerTlsKey: key })], env: NO_ENV });
    expect(fromFile.peerTls).toEqual({ cert, key });
    const report = reportConfig({ argv: ['--peer-tls-ca', ca], env: NO_ENV }).settings;
    expect(report.peerTlsCa).toMatchObject({ value: ca, source: 'flag --peer-tls-ca', env: 'CRIU_AGENT_PEER_TLS_CA', flag: '--peer-tls-ca' });
    expect(report.peerTlsCert.value).toBeNull();
  });

  it('refuses a certificate without its key, a key without its certificate, and an unreadable file, naming the flag', () => {
    const cert = file('me.pem');
    expect(configError(['--peer-tls-cert', cert]).message).toBe(
      'flag --peer-tls-cert: a client certificate for peers needs its private key too (--peer-tls-key FILE)',
    );
    expect(configError(['--peer-tls-key', cert]).message).toBe('flag --peer-tls-key: a private key for peers needs its certificate too (--peer-tls-cert FILE)');
    const missing = path.join(tmp, 'nope.pem');
    expect(configError(['--peer-tls-ca', missing]).message).toMatch(
      new RegExp(`^flag --peer-tls-ca: the CA bundle of the peers' certificates ${missing} cannot be read: ENOENT`),
    );
  });
});
