import { parseArgs } from 'node:util';

/**
 * Exit codes of `criu-agent`. A call the agent answered with an error exits
 * with 10 + its gRPC status code, so a script can tell them apart without
 * parsing messages (docs/cli.md lists them).
 */
export const EXIT = {
  OK: 0,
  /** The CLI itself failed unexpectedly (a bug, or the agent failed at start). */
  FAILURE: 1,
  /** Wrong command line or configuration: nothing was sent to the agent. */
  USAGE: 2,
  /** `health`: the agent answered, but not SERVING. */
  NOT_SERVING: 3,
  /** Added to the gRPC status code of a failed call (e.g. NOT_FOUND, 5 -> 15; UNAVAILABLE, 14 -> 24). */
  STATUS_BASE: 10,
} as const;

/** A mistake in the command line; printed with a hint to --help, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** node:util parseArgs, strict, with its errors turned into one-line UsageErrors. */
export function parseCommand(command: string, argv: readonly string[], options: FlagSpec): { values: FlagValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    return { values, positionals };
  } catch (err) {
    const e = err as Error & { code?: string };
    const unknown = /Unknown option '([^']+)'/.exec(e.message);
    if (unknown) throw new UsageError(`${command}: unknown option ${unknown[1]}`);
    const missing = /Option '(-\S+)(?: <value>)?' argument missing/.exec(e.message);
    if (missing) throw new UsageError(`${command}: option ${missing[1]} needs a value`);
    throw new UsageError(`${command}: ${e.message}`);
  }
}

/** A flag's string value ("" and absent are the same). */
export function str(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Exactly `names.length` positional arguments, by name for the messages. */
export function positionals(command: string, given: string[], names: string[]): string[] {
  if (given.length < names.length) throw new UsageError(`${command}: missing ${names.slice(given.length).join(' and ')}`);
  if (given.length > names.length) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(given[names.length])}`);
  return given;
}

/** The largest pid any Linux kernel hands out (PID_MAX_LIMIT - 1; the agent refuses larger ones too). */
export const MAX_PID = 4_194_303;

/** A pid given on the command line: digits, within the range of Linux pids. */
export function pidArg(command: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${command}: PID must be a process id (digits), not ${JSON.stringify(text)}`);
  const pid = Number(text);
  if (pid < 1 || pid > MAX_PID) {
    throw new UsageError(`${command}: PID ${text} is not a Linux process id: pids run from 1 to ${MAX_PID} (the kernel's PID_MAX_LIMIT is 4194304)`);
  }
  return pid;
}
