import { EventEmitter } from 'node:events';

import * as grpc from '@grpc/grpc-js';

import { AgentError, type ErrorKind } from '../../src/errors';
import { silentLogger } from '../../src/log';
import type { Services } from '../../src/service';
import { agentHandlers } from '../../src/server/handlers';
import { toStatus } from '../../src/server/status';
import { unary, type CallContext } from '../../src/server/unary';

// Written out so that a change to the mapping has to change this table too.
const KINDS: [ErrorKind, grpc.status][] = [
  ['invalid-argument', grpc.status.INVALID_ARGUMENT],
  ['not-found', grpc.status.NOT_FOUND],
  ['already-exists', grpc.status.ALREADY_EXISTS],
  ['failed-precondition', grpc.status.FAILED_PRECONDITION],
  ['permission-denied', grpc.status.PERMISSION_DENIED],
  ['resource-exhausted', grpc.status.RESOURCE_EXHAUSTED],
  ['aborted', grpc.status.ABORTED],
  ['cancelled', grpc.status.CANCELLED],
  ['deadline-exceeded', grpc.status.DEADLINE_EXCEEDED],
  ['unavailable', grpc.status.UNAVAILABLE],
  ['data-loss', grpc.status.DATA_LOSS],
  ['internal', grpc.status.INTERNAL],
];

describe('toStatus', () => {
  it.each(KINDS)('%s -> %s', (kind, code) => {
    const s = toStatus(new AgentError(kind, `something ${kind}`));
    expect(s.code).toBe(code);
    expect(s.details).toBe(`something ${kind}`);
    expect(s.metadata?.getMap()).toEqual({});
  });

  it('covers every ErrorKind exactly once', () => {
    const kinds = KINDS.map(([k]) => k);
    expect(new Set(kinds).size).toBe(kinds.length);
    expect(new Set(KINDS.map(([, c]) => c)).size).toBe(kinds.length);
  });

  it('puts criu-errno and criu-log into the metadata', () => {
    const s = toStatus(
      new AgentError('not-found', 'CRIU dump failed (ESRCH)', {
        details: { criuErrno: 3, criuLog: '/var/lib/criu-agent/failed/x-dump.log' },
      }),
    );
    expect(s.code).toBe(grpc.status.NOT_FOUND);
    expect(s.metadata?.get('criu-errno')).toEqual(['3']);
    expect(s.metadata?.get('criu-log')).toEqual(['/var/lib/criu-agent/failed/x-dump.log']);
  });

  it('sets only the details that are there', () => {
    const onlyLog = toStatus(new AgentError('internal', 'x', { details: { criuLog: '/l' } }));
    expect(onlyLog.metadata?.getMap()).toEqual({ 'criu-log': '/l' });
    const onlyErrno = toStatus(new AgentError('internal', 'x', { details: { criuErrno: 28 } }));
    expect(onlyErrno.metadata?.getMap()).toEqual({ 'criu-errno': '28' });
  });

  it('maps a plain Error to INTERNAL with its message', () => {
    const s = toStatus(new Error('boom'));
    expect(s.code).toBe(grpc.status.INTERNAL);
    expect(s.details).toBe('internal error: boom');
    expect(s.metadata?.getMap()).toEqual({});
  });

  it('maps a full disk (ENOSPC, EDQUOT) that no layer named to RESOURCE_EXHAUSTED', () => {
    for (const code of ['ENOSPC', 'EDQUOT']) {
      const err = Object.assign(new Error(`${code}: no space left on device, write`), { code });
      const s = toStatus(err);
      expect(s.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(s.details).toBe(`the agent's file system is full: ${code}: no space left on device, write`);
    }
    expect(toStatus(Object.assign(new Error('x'), { code: 'EIO' })).code).toBe(grpc.status.INTERNAL);
  });

  it('maps non-Error throwables to INTERNAL', () => {
    expect(toStatus('a string')).toMatchObject({ code: grpc.status.INTERNAL, details: 'internal error: a string' });
    expect(toStatus(undefined)).toMatchObject({ code: grpc.status.INTERNAL, details: 'internal error: undefined' });
    // An error-like object that is not an AgentError is not trusted for its kind.
    expect(toStatus({ kind: 'not-found', message: 'x' }).code).toBe(grpc.status.INTERNAL);
  });
});

// ---------------------------------------------------------------------------
// The unary adapter, with a fake grpc call.

class FakeCall<Req> extends EventEmitter {
  constructor(
    readonly request: Req,
    private readonly deadline: grpc.Deadline = Infinity,
  ) {
    super();
  }

  getDeadline(): grpc.Deadline {
    return this.deadline;
  }
}

interface Outcome<Res> {
  err: Partial<grpc.StatusObject> | null;
  res?: Res;
}

function invoke<Req, Res>(handler: grpc.handleUnaryCall<Req, Res>, call: FakeCall<Req>): Promise<Outcome<Res>> {
  return new Promise((resolve) => {
    handler(
      call as unknown as grpc.ServerUnaryCall<Req, Res>,
      ((err: Partial<grpc.StatusObject> | null, res?: Res) => resolve({ err, res })) as grpc.sendUnaryData<Res>,
    );
  });
}

describe('unary', () => {
  it('passes the result to the callback', async () => {
    const h = unary(silentLogger, 'M', (req: { n: number }) => Promise.resolve({ doubled: req.n * 2 }));
    await expect(invoke(h, new FakeCall({ n: 21 }))).resolves.toEqual({ err: null, res: { doubled: 42 } });
  });

  it('maps a rejection through toStatus', async () => {
    const h = unary(silentLogger, 'M', () =>
      Promise.reject(new AgentError('failed-precondition', 'not stopped', { details: { criuErrno: 1 } })),
    );
    const { err } = await invoke(h, new FakeCall({}));
    expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err?.details).toBe('not stopped');
    expect(err?.metadata?.get('criu-errno')).toEqual(['1']);
  });

  it('turns a client cancel into an aborted signal with a cancelled reason', async () => {
    let ctx: CallContext | undefined;
    const h = unary(silentLogger, 'Dump', (_req: object, c) => {
      ctx = c;
      return new Promise<object>((_resolve, reject) => {
        c.signal.addEventListener('abort', () => reject(c.signal.reason as Error));
      });
    });
    const call = new FakeCall({});
    const done = invoke(h, call);
    expect(ctx?.signal.aborted).toBe(false);
    expect(ctx?.requestId).toMatch(/^[0-9a-z]+-[0-9a-z]+$/);
    call.emit('cancelled');
    const { err } = await done;
    expect(ctx?.signal.reason).toBeInstanceOf(AgentError);
    expect((ctx?.signal.reason as AgentError).kind).toBe('cancelled');
    expect(err?.code).toBe(grpc.status.CANCELLED);
    expect(err?.details).toMatch(/^Dump: the client cancelled the call/);
  });

  it('turns an expired deadline into deadline-exceeded', async () => {
    const h = unary(silentLogger, 'Dump', (_req: object, c) => {
      return new Promise<object>((_resolve, reject) => {
        c.signal.addEventListener('abort', () => reject(c.signal.reason as Error));
      });
    });
    const call = new FakeCall({}, new Date(Date.now() - 10));
    const done = invoke(h, call);
    call.emit('cancelled');
    const { err } = await done;
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(err?.details).toMatch(/^Dump: the call's deadline passed/);
  });

  it('gives distinct request ids', async () => {
    const ids: string[] = [];
    const h = unary(silentLogger, 'M', (_req: object, c) => {
      ids.push(c.requestId);
      return Promise.resolve({});
    });
    await invoke(h, new FakeCall({}));
    await invoke(h, new FakeCall({}));
    expect(new Set(ids).size).toBe(2);
  });
});

// ---------------------------------------------------------------------------
// The handlers' request validation and mapping, with fake services.

describe('agentHandlers', () => {
  const calls: unknown[][] = [];
  const services = {
    dump: {
      dump: (...a: unknown[]) => {
        calls.push(['dump', ...a]);
        return Promise.resolve({
          checkpointId: 'c',
          finalState: 'STOPPED',
          finalStateIgnored: false,
          imagesDir: '/i',
          pids: [5],
          logPath: '/i/dump.log',
        });
      },
      preDump: (...a: unknown[]) => {
        calls.push(['preDump', ...a]);
        return Promise.resolve({
          checkpointId: 'p',
          finalState: 'RUNNING',
          finalStateIgnored: true,
          imagesDir: '/p',
          pids: [5],
          logPath: '/p/pre-dump.log',
        });
      },
    },
    restore: { restore: () => Promise.resolve({ pid: 9, finalState: 'RUNNING', checkpointId: 'c', pids: [9], logPath: '/i/r.log', gpu: [] }) },
    continue: { continue: (pid: number) => Promise.resolve({ pids: [pid], stoppedBy: 'dump into checkpoint c', gpu: [] }) },
    check: {
      check: () =>
        Promise.resolve({ criuVersion: '4.2.1', criuTransport: 't', kernel: 'k', memTrack: true, lazyPages: false, pidfdStore: true, gpu: { driverLoaded: false, driverVersion: '', checkpointApi: false, unavailableReason: 'no NVIDIA driver', gpus: [] } }),
    },
  } as unknown as Services;
  const h = agentHandlers(services, silentLogger);
  beforeEach(() => (calls.length = 0));

  const dumpReq = (over: object = {}) => ({
    pid: 5,
    checkpoint_id: 'c',
    final_state: 'FINAL_STATE_STOPPED',
    parent_checkpoint_id: '',
    options: null,
    ...over,
  });

  it('maps a Dump request and response', async () => {
    const { err, res } = await invoke(h.Dump, new FakeCall(dumpReq() as never));
    expect(err).toBeNull();
    expect(res).toEqual({
      checkpoint_id: 'c',
      final_state: 'FINAL_STATE_STOPPED',
      images_dir: '/i',
      pids: [5],
      log_path: '/i/dump.log',
      stats: null,
      size_bytes: undefined,
    });
    expect(calls[0]?.[1]).toEqual({ pid: 5, checkpointId: 'c', requested: 'STOPPED', parentId: '', options: {} });
  });

  it('maps PreDump with final_state_ignored', async () => {
    const { res } = await invoke(h.PreDump, new FakeCall(dumpReq({ final_state: 'FINAL_STATE_UNSPECIFIED' }) as never));
    expect(res).toMatchObject({ final_state: 'FINAL_STATE_RUNNING', final_state_ignored: true });
    expect(calls[0]?.[1]).toMatchObject({ requested: 'UNSPECIFIED' });
  });

  it.each([0, -1, 1.5, 4_194_305])('refuses pid %p with INVALID_ARGUMENT', async (pid) => {
    const { err } = await invoke(h.Dump, new FakeCall(dumpReq({ pid }) as never));
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(calls).toEqual([]);
    const c = await invoke(h.Continue, new FakeCall({ pid } as never));
    expect(c.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('refuses an unknown final_state enum number with INVALID_ARGUMENT', async () => {
    const { err } = await invoke(h.Dump, new FakeCall(dumpReq({ final_state: 7 }) as never));
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/^final_state 7 is not one of/);
  });

  it('maps Continue, Restore and Check', async () => {
    await expect(invoke(h.Continue, new FakeCall({ pid: 42 } as never))).resolves.toEqual({ err: null, res: { pids: [42], stopped_by: 'dump into checkpoint c', gpu: [] } });
    const r = await invoke(h.Restore, new FakeCall({ checkpoint_id: 'c', final_state: 'FINAL_STATE_RUNNING', options: null } as never));
    expect(r.res).toEqual({ pid: 9, final_state: 'FINAL_STATE_RUNNING', checkpoint_id: 'c', pids: [9], log_path: '/i/r.log', stats: null, gpu: [] });
    const c = await invoke(h.Check, new FakeCall({} as never));
    expect(c.res).toEqual({
      criu_version: '4.2.1',
      criu_transport: 't',
      kernel: 'k',
      mem_track: true,
      lazy_pages: false,
      pidfd_store: true,
      gpu: { driver_loaded: false, driver_version: '', checkpoint_api: false, unavailable_reason: 'no NVIDIA driver', gpus: [] },
    });
  });
});
