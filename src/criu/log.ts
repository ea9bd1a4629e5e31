import { promises as fsp } from 'node:fs';

/**
 * Lines CRIU logs as errors although the operation goes on and succeeds.
 * Root without CAP_SYS_RESOURCE cannot raise RLIMIT_NOFILE, and CRIU logs that
 * as an "Error" first thing; cr_errmsg then carries it even on success, which
 * is why `success` is the only verdict.
 */
const HARMLESS = [/rlimit: Can't setup RLIMIT_NOFILE/];

/** CRIU's error lines look like "(00.012345) Error (criu/cr-dump.c:1234): message". */
const ERROR_LINE = /\bError \(([^)]*)\):\s*(.*)$/;

export interface CriuLogSummary {
  /** CRIU's error lines (message part, with the source location), harmless ones left out. */
  errors: string[];
  /** The last lines of the log, for context when there is no error line. */
  tail: string[];
}

/** Reads the error lines of a CRIU log; a missing or unreadable log gives empty lists. */
export async function summarizeLog(logPath: string, maxErrors = 12, maxTail = 8): Promise<CriuLogSummary> {
  let text: string;
  try {
    const handle = await fsp.open(logPath, 'r');
    try {
      // Logs of large dumps run to megabytes at log level 4; the errors that
      // ended the run are at the end.
      const { size } = await handle.stat();
      const len = Math.min(size, 1 << 20);
      const buf = Buffer.alloc(len);
      await handle.read(buf, 0, len, size - len);
      text = buf.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return { errors: [], tail: [] };
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const errors: string[] = [];
  for (const line of lines) {
    const m = ERROR_LINE.exec(line);
    if (!m || HARMLESS.some((re) => re.test(line))) continue;
    errors.push(`${m[2] ?? ''} (${m[1] ?? ''})`.trim());
  }
  return { errors: errors.slice(-maxErrors), tail: lines.slice(-maxTail) };
}
