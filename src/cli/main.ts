import * as fs from 'node:fs';
import * as path from 'node:path';
import { startAgent } from '../agent';
import { ConfigError, DEFAULTS, loadConfig, reportConfig } from '../config';
import { createLogger } from '../log';
import { packageRoot } from '../paths';
import { EXIT, UsageError, parseCommand, positionals, str } from './args';
import { AgentConnection, CONNECTION_FLAGS, CONNECTION_FLAGS_HELP, isCallFailure, resolveTarget } from './client';
import { CLIENT_COMMANDS, CLIENT_FLAGS_HELP, clientCommandsHelp, reportFailure, runClientCommand, type Io } from './commands';

const SERVE_USAGE = `usage: criu-agent serve [--listen ADDR]... [--state-dir DIR] [--criu-path PATH | --criu-socket PATH]
                        [--socket-mode MODE] [--criu-log-level 0-4] [--pid-wait-ms MS]
                        [--log-level debug|info|warn|error] [--config FILE.json]
                        [--max-concurrent-operations N] [--retain-max-count N] [--retain-max-bytes N]
                        [--metrics-listen HOST:PORT] [--socket-group GROUP]
                        [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--policy FILE.json]
                        [--allow-cgroup PREFIX]... [--allow-uid UID]... [--max-calls-per-client N]
                        [--peer-tls-ca FILE] [--peer-tls-cert FILE --peer-tls-key FILE]

Runs the agent.

  --listen ADDR        unix:/path or host:port, repeatable (e.g. the socket and a TLS port); TCP is TLS when
                       --tls-cert is set, else loopback only; default ${DEFAULTS.listen}
  --state-dir DIR      where checkpoints are kept; default ${DEFAULTS.stateDir}
  --criu-path PATH     criu binary started as "criu swrk" per operation; default: criu on PATH, else /usr/local/sbin/criu
  --criu-socket PATH   use a running "criu service" socket instead of starting criu
  --socket-mode MODE   permissions of the unix socket; default ${DEFAULTS.socketMode}
  --criu-log-level N   CRIU's log level (0-4) for the logs kept with each checkpoint; default ${DEFAULTS.criuLogLevel}
  --pid-wait-ms MS     how long Restore waits for a pid of the tree to be free; default ${DEFAULTS.pidWaitMs}
  --log-level LEVEL    the agent's own log (JSON lines on stderr); default ${DEFAULTS.logLevel}
  --max-concurrent-operations N   CRIU operations at once, the rest wait; default ${DEFAULTS.maxConcurrentOperations}
  --retain-max-count N, --retain-max-bytes N   delete the oldest checkpoints beyond these; default 0 (keep all)
  --metrics-listen HOST:PORT   serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464); default off
  --socket-group GROUP          let this group use the unix socket (mode 0660)
  --tls-cert FILE, --tls-key FILE   serve TLS on every TCP listener (required beyond loopback); re-read when the files change
  --tls-client-ca FILE          require client certificates signed by this CA (mTLS)
  --policy FILE.json            which identities may call which RPCs (deploy/policy.example.json)
  --allow-cgroup PREFIX, --allow-uid UID   only touch processes in these cgroups / of these uids (repeatable)
  --max-calls-per-client N      concurrent calls per client identity; the rest get RESOURCE_EXHAUSTED
  --registry-auth-file FILE     registry credentials (docker/podman auth.json); default $REGISTRY_AUTH_FILE, then
                                /run/containers/0/auth.json, then ~/.docker/config.json
  --registry-insecure HOST[:PORT]   reach this registry over plain HTTP (repeatable); others need HTTPS
  --registry-ca HOST[:PORT]=FILE    verify this registry's certificate with this CA bundle (repeatable)
  --peer-tls-ca FILE            Migrate: verify destination agents' certificates with this CA (PEM); default the system's roots
  --peer-tls-cert FILE, --peer-tls-key FILE   Migrate: this agent's client certificate and key for destinations requiring mTLS
                                (any --peer-tls-* option: TCP destinations over TLS; without, only loopback ones, plaintext)
  --config FILE.json   settings by name, e.g. {"stateDir": "/srv/criu"}; default $CRIU_AGENT_CONFIG
Every option can also be set as CRIU_AGENT_<NAME> in the environment (e.g. CRIU_AGENT_STATE_DIR);
flags win over the environment, which wins over the file. \`criu-agent config print\` shows the result.`;

const USAGE = `usage: criu-agent COMMAND [ARGS] [--help]

Checkpoints and restores process trees on this node through CRIU (docs/cli.md, docs/tutorial.md).

The agent:
  criu-agent serve [OPTIONS]          run the agent (criu-agent serve --help)
  criu-agent config print [OPTIONS]   the effective configuration of "serve" with these options, as JSON, and where each value came from

Talking to the agent:
${clientCommandsHelp()}
  criu-agent health [--service NAME] [--liveness]

${CLIENT_FLAGS_HELP}

Exit codes: 0 ok; 1 unexpected failure; 2 wrong usage or configuration; 3 health: not SERVING;
10 + the gRPC status code when the agent refused or failed the call (e.g. 13 INVALID_ARGUMENT, 15 NOT_FOUND,
19 FAILED_PRECONDITION, 24 UNAVAILABLE: no agent at the address).`;

const HEALTH_USAGE = `usage: criu-agent health [--service NAME] [--liveness] [--address ADDR] [--json] [--timeout SECONDS]
                         [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]

Asks the agent's grpc.health.v1 service (a probe for systemd or Kubernetes).
Exit 0 when SERVING (CRIU answers), 3 when the agent answers NOT_SERVING, 10 + the gRPC code when it does not answer.

  --service NAME     the service to ask about; default "" (the whole agent); criu_agent.v1.CheckpointAgent is the same
  --liveness         exit 0 whenever the agent answers, SERVING or not: restarting the agent does not make CRIU work
  --json             print the reply as JSON on stdout ({"status":"SERVING"}); a failure as {"error": {...}}
  --timeout SECONDS  give up (exit 14, DEADLINE_EXCEEDED) after this long; default 5
${CONNECTION_FLAGS_HELP}`;

/** The process's own streams. */
export function processIo(): Io {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    stderrIsTTY: process.stderr.isTTY === true,
    stderr: process.stderr,
    env: process.env,
    stdout: process.stdout,
    stdin: process.stdin,
  };
}

/** The CLI: runs one command and returns its exit code (see EXIT). */
export async function run(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        io.err(USAGE + '\n');
        return EXIT.USAGE;
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE + '\n');
        return EXIT.OK;
      case '--version':
      case 'version':
        io.out(`criu-agent ${version()}\n`);
        return EXIT.OK;
      case 'serve':
        return await serve(rest, io);
      case 'config':
        return configCommand(rest, io);
      case 'health':
        return await health(rest, io);
      default:
        if (CLIENT_COMMANDS.includes(command)) return await runClientCommand(command, rest, io);
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      const help =
        command && (CLIENT_COMMANDS.includes(command) || ['serve', 'config', 'health'].includes(command)) ? `${command} --help` : '--help';
      io.err(`criu-agent: ${err.message}\n(criu-agent ${help} shows the usage)\n`);
      return EXIT.USAGE;
    }
    throw err;
  }
}

async function serve(argv: readonly string[], io: Io): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(SERVE_USAGE + '\n');
    return EXIT.OK;
  }
  const config = loadConfig({ argv, env: io.env });
  const log = createLogger(config.logLevel);
  let server;
  try {
    server = await startAgent(config, log);
  } catch (err) {
    log.error({ error: err instanceof Error ? err.message : String(err) }, 'criu-agent could not start');
    throw err;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'stopping: waiting for calls in flight');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await server.stop();
  return EXIT.OK;
}

function configCommand(argv: readonly string[], io: Io): number {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    io.out(
      'usage: criu-agent config print [serve options]\n\nPrints the configuration `criu-agent serve` would run with (defaults, the JSON file, the environment\n' +
        'and these options), as JSON: each setting with its value, its source, and its environment variable and flag.\n',
    );
    return sub === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (sub !== 'print') throw new UsageError(`config: unknown subcommand ${JSON.stringify(sub)} (only "print")`);
  io.out(JSON.stringify(reportConfig({ argv: rest, env: io.env }), null, 2) + '\n');
  return EXIT.OK;
}

async function health(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals: args } = parseCommand('health', argv, {
    ...CONNECTION_FLAGS,
    service: { type: 'string' },
    liveness: { type: 'boolean' },
    json: { type: 'boolean' },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(HEALTH_USAGE + '\n');
    return EXIT.OK;
  }
  positionals('health', args, []);
  const timeout = Number(str(values, 'timeout') ?? '5');
  if (!(timeout > 0)) throw new UsageError(`health: --timeout takes a number of seconds`);
  const connection = new AgentConnection(resolveTarget(values, io.env));
  try {
    const { reply } = await connection.healthCheck(str(values, 'service') ?? '', { timeoutMs: timeout * 1000 });
    io.out(values.json ? JSON.stringify(reply) + '\n' : `${reply.status}\n`);
    return reply.status === 'SERVING' || values.liveness === true ? EXIT.OK : EXIT.NOT_SERVING;
  } catch (err) {
    if (isCallFailure(err)) return reportFailure(io, values.json === true, err, connection.target, { timeoutSeconds: timeout, command: 'health' });
    throw err;
  } finally {
    connection.close();
  }
}

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}
