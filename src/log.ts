import pino from 'pino';

/**
 * The agent's structured logger: one JSON object per line on stderr (pino),
 * e.g. `{"level":"info","time":"2024-05-01T10:00:00.000Z","pid":42,"requestId":"3f9a1c-7","method":"Dump","msg":"Dump ok"}`.
 * Callers see this small interface only, so the backend can change.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  /** A logger that adds `bindings` (e.g. the request id) to every line. */
  child(bindings: Record<string, unknown>): Logger;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A pino logger at `level`. Lines go to `write` when given (tests), else to
 * stderr synchronously: the agent's last lines before an exit (a config error,
 * a crash) must not sit in a buffer, and it logs a few lines per call, not
 * thousands per second.
 */
export function createLogger(level: LogLevel, write?: (line: string) => void): Logger {
  const destination = write ? { write } : pino.destination({ dest: 2, sync: true });
  return wrap(
    pino(
      {
        level,
        base: { pid: process.pid },
        timestamp: pino.stdTimeFunctions.isoTime,
        // Level names, not pino's numbers: what journald and kubectl logs readers grep for.
        formatters: { level: (label) => ({ level: label }) },
      },
      destination,
    ),
  );
}

function wrap(p: pino.Logger): Logger {
  return {
    debug: (fields, msg) => p.debug(fields, msg),
    info: (fields, msg) => p.info(fields, msg),
    warn: (fields, msg) => p.warn(fields, msg),
    error: (fields, msg) => p.error(fields, msg),
    child: (bindings) => wrap(p.child(bindings)),
  };
}

/** Discards everything (unit tests). */
export const silentLogger: Logger = wrap(pino({ level: 'silent' }));
