#!/usr/bin/env node
import { startAgent } from './agent';
import { ConfigError, DEFAULTS, loadConfig } from './config';
import { createLogger } from './log';

const USAGE = `usage: criu-agent serve [--listen ADDR] [--state-dir DIR] [--criu-path PATH | --criu-socket PATH]
                        [--socket-mode MODE] [--criu-log-level 0-4] [--pid-wait-ms MS]
                        [--log-level debug|info|warn|error] [--config FILE.json]

  --listen ADDR      unix:/path or host:port (plaintext TCP on loopback only); default ${DEFAULTS.listen}
  --state-dir DIR    where checkpoints are kept; default ${DEFAULTS.stateDir}
  --criu-path PATH   criu binary started as "criu swrk" per operation; default: criu on PATH, else /usr/local/sbin/criu
  --criu-socket PATH use a running "criu service" socket instead of starting criu
Every option can also be set as CRIU_AGENT_<NAME> in the environment (e.g. CRIU_AGENT_STATE_DIR)
or in the JSON config file (e.g. {"stateDir": "/srv/criu"}); flags win over the environment, which wins over the file.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? 2 : 0;
  }
  if (command !== 'serve') {
    process.stderr.write(`criu-agent: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig({ argv: rest, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`criu-agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const server = await startAgent(config, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'stopping: waiting for calls in flight');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await server.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`criu-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
