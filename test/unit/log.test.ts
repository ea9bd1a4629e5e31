import { createLogger, silentLogger, type LogLevel } from '../../src/log';

/** A logger writing into an array, and its lines parsed. */
function capture(level: LogLevel): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log = createLogger(level, (line) => out.push(line));
  return {
    log,
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger (pino)', () => {
  it('writes one JSON object per line: level name, ISO time, pid, message and fields', () => {
    const { log, lines } = capture('info');
    log.info({ address: 'unix:/run/x.sock', n: 3 }, 'criu-agent listening');
    const [line, ...more] = lines();
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 'info', pid: process.pid, msg: 'criu-agent listening', address: 'unix:/run/x.sock', n: 3 });
    expect(new Date(String(line?.time)).toISOString()).toBe(line?.time);
  });

  it('drops lines below its level', () => {
    const { log, lines } = capture('warn');
    log.debug({}, 'd');
    log.info({}, 'i');
    log.warn({}, 'w');
    log.error({}, 'e');
    expect(lines().map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
  });

  it('debug shows everything', () => {
    const { log, lines } = capture('debug');
    log.debug({ x: 1 }, 'd');
    expect(lines()).toMatchObject([{ level: 'debug', msg: 'd', x: 1 }]);
  });

  it('a child adds its bindings (the request id) to every line, the parent does not', () => {
    const { log, lines } = capture('info');
    const call = log.child({ requestId: 'abc-1', method: 'Dump' });
    call.info({ ms: 12 }, 'Dump ok');
    call.child({ step: 'criu' }).warn({}, 'slow');
    log.info({}, 'plain');
    expect(lines()).toMatchObject([
      { requestId: 'abc-1', method: 'Dump', ms: 12, msg: 'Dump ok' },
      { requestId: 'abc-1', method: 'Dump', step: 'criu', level: 'warn', msg: 'slow' },
      { msg: 'plain' },
    ]);
    expect(lines()[2]).not.toHaveProperty('requestId');
  });

  it('keeps strings with newlines and quotes on one line', () => {
    const { log, lines } = capture('info');
    log.error({ error: 'CRIU said:\n"Error (criu/cr-dump.c:2093)"' }, 'failed');
    expect(lines()).toHaveLength(1);
    expect(lines()[0]?.error).toBe('CRIU said:\n"Error (criu/cr-dump.c:2093)"');
  });

  it('silentLogger writes nothing and has children', () => {
    const write = jest.spyOn(process.stderr, 'write');
    try {
      silentLogger.error({ x: 1 }, 'nothing');
      silentLogger.child({ requestId: 'r' }).error({}, 'nothing either');
      expect(write).not.toHaveBeenCalled();
    } finally {
      write.mockRestore();
    }
  });
});
