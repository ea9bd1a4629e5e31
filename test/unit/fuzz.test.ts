/**
 * A bounded-time fuzz run of request decoding and validation: random and
 * mutated byte strings are decoded as each request type exactly as the server
 * decodes them (the package definition's requestDeserialize: protobufjs with
 * src/proto.ts's loader options), then run through the real handlers
 * (src/server/handlers.ts) with fake services and a fake grpc call.
 *
 * Asserted for every input: nothing crashes or rejects unhandled; the handler
 * answers exactly once, either OK or with a status and a non-empty message;
 * since the fake services never fail, every error is INVALID_ARGUMENT from
 * validation (never INTERNAL); and the services only ever receive validated
 * parameters (pid in range, ids valid, options bounded).
 *
 * FUZZ_MS (default 20000) bounds the run, FUZZ_SEED replays one; the seed is
 * printed, and every failure names the seed, the iteration and the bytes.
 */
import { EventEmitter } from 'node:events';

import * as grpc from '@grpc/grpc-js';

import { silentLogger } from '../../src/log';
import { loadAgentPackageDefinition } from '../../src/proto';
import type { DumpParams, RestoreParams, Services } from '../../src/service';
import { agentHandlers } from '../../src/server/handlers';

const FUZZ_MS = Number(process.env.FUZZ_MS ?? 20_000);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 32) >>> 0;

jest.setTimeout(FUZZ_MS + 60_000);

// ---------------------------------------------------------------------------
// A small seeded PRNG (mulberry32), so that a failing run can be replayed.

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(SEED);
const int = (n: number): number => Math.floor(random() * n);
const chance = (p: number): boolean => random() < p;
function pick<T>(xs: readonly T[]): T {
  return xs[int(xs.length)] as T;
}

// ---------------------------------------------------------------------------
// The server's own decoding.

const METHODS = ['Dump', 'PreDump', 'Restore', 'Continue', 'Check', 'ListCheckpoints', 'GetCheckpoint', 'DeleteCheckpoint'] as const;
type MethodName = (typeof METHODS)[number];

const service = loadAgentPackageDefinition()['criu_agent.v1.CheckpointAgent'] as unknown as grpc.ServiceDefinition;

// ---------------------------------------------------------------------------
// The oracle: what a validated parameter looks like, written independently of src/server/validate.ts.

const MAX_PID = 4_194_303;
const ID = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const validId = (id: unknown): boolean => typeof id === 'string' && id.length >= 1 && id.length <= 128 && ID.test(id) && !id.includes('..');
const validPid = (pid: unknown): boolean => typeof pid === 'number' && Number.isInteger(pid) && pid >= 1 && pid <= MAX_PID;
const CGROUP = ['CGROUP_MODE_IGNORE', 'CGROUP_MODE_PROPS', 'CGROUP_MODE_SOFT', 'CGROUP_MODE_FULL', 'CGROUP_MODE_STRICT'];
const NETLOCK = ['NETWORK_LOCK_IPTABLES', 'NETWORK_LOCK_NFTABLES', 'NETWORK_LOCK_SKIP'];
const FLAGS = new Set([
  'shell_job',
  'tcp_established',
  'ext_unix_sk',
  'file_locks',
  'link_remap',
  'tcp_close',
  'auto_ext_mnt',
  'ext_sharing',
  'ext_masters',
  'evasive_devices',
  'tcp_skip_in_flight',
  'force_irmap',
  'auto_dedup',
  'weak_sysctls',
]);

function optionProblems(o: unknown): string[] {
  if (typeof o !== 'object' || o === null) return ['options is not an object'];
  const problems: string[] = [];
  const r = o as Record<string, unknown>;
  for (const [k, v] of Object.entries(r)) {
    if (FLAGS.has(k)) {
      if (v !== true) problems.push(`${k} is ${String(v)}, not true (unset options are left out)`);
    } else if (k === 'external' || k === 'skip_mnt' || k === 'enable_fs') {
      if (!Array.isArray(v) || v.length < 1 || v.length > 256) {
        problems.push(`${k} is not a list of 1-256 entries`);
        continue;
      }
      for (const e of v as unknown[]) {
        if (typeof e !== 'string' || e === '' || Buffer.byteLength(e) > 4096 || e.includes('\0')) problems.push(`${k} holds ${JSON.stringify(e)?.slice(0, 40)}`);
      }
    } else if (k === 'manage_cgroups_mode') {
      if (!CGROUP.includes(v as string)) problems.push(`manage_cgroups_mode ${String(v)}`);
    } else if (k === 'network_lock') {
      if (!NETLOCK.includes(v as string)) problems.push(`network_lock ${String(v)}`);
    } else if (k === 'ghost_limit') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 0xffffffff) problems.push(`ghost_limit ${String(v)}`);
    } else if (k === 'freeze_timeout_seconds') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 3600) problems.push(`freeze_timeout_seconds ${String(v)}`);
    } else {
      problems.push(`unexpected option ${k}`);
    }
  }
  if (r.tcp_established && r.tcp_close) problems.push('tcp_established with tcp_close');
  return problems;
}

function dumpProblems(p: DumpParams, op: string): string[] {
  const problems = optionProblems(p.options);
  if (!validPid(p.pid)) problems.push(`pid ${p.pid}`);
  if (!validId(p.checkpointId)) problems.push(`checkpointId ${JSON.stringify(p.checkpointId)}`);
  if (p.parentId !== '' && !validId(p.parentId)) problems.push(`parentId ${JSON.stringify(p.parentId)}`);
  if (p.parentId === p.checkpointId) problems.push('parentId equals checkpointId');
  if (!['UNSPECIFIED', 'RUNNING', 'STOPPED', 'DEAD'].includes(p.requested)) problems.push(`requested ${String(p.requested)}`);
  return problems.map((x) => `${op}: ${x}`);
}

// ---------------------------------------------------------------------------
// Fake services: record what they receive, check it, and answer plausibly.

const violations: string[] = [];
let serviceCalls = 0;

const dumpResult = (p: DumpParams) => ({
  checkpointId: p.checkpointId,
  finalState: 'RUNNING' as const,
  finalStateIgnored: false,
  imagesDir: `/state/checkpoints/${p.checkpointId}`,
  pids: [p.pid],
  logPath: `/state/checkpoints/${p.checkpointId}/dump.log`,
  sizeBytes: 4096,
});

const fakeServices = {
  dump: {
    dump: (p: DumpParams) => {
      serviceCalls++;
      violations.push(...dumpProblems(p, 'dump'));
      return Promise.resolve(dumpResult(p));
    },
    preDump: (p: DumpParams) => {
      serviceCalls++;
      violations.push(...dumpProblems(p, 'preDump'));
      return Promise.resolve({ ...dumpResult(p), finalStateIgnored: p.requested === 'STOPPED' || p.requested === 'DEAD' });
    },
  },
  restore: {
    restore: (p: RestoreParams) => {
      serviceCalls++;
      violations.push(...optionProblems(p.options).map((x) => `restore: ${x}`));
      if (!validId(p.checkpointId)) violations.push(`restore: checkpointId ${JSON.stringify(p.checkpointId)}`);
      if (!['UNSPECIFIED', 'RUNNING', 'STOPPED'].includes(p.requested)) violations.push(`restore: requested ${String(p.requested)}`);
      return Promise.resolve({ pid: 42, finalState: 'RUNNING', checkpointId: p.checkpointId, pids: [42], logPath: '/l', gpu: [] });
    },
  },
  continue: {
    continue: (pid: number) => {
      serviceCalls++;
      if (!validPid(pid)) violations.push(`continue: pid ${pid}`);
      return Promise.resolve({ pids: [pid], stoppedBy: '', gpu: [] });
    },
  },
  check: {
    check: () => {
      serviceCalls++;
      return Promise.resolve({ criuVersion: '4.2.1', criuTransport: 'fake', kernel: 'k', memTrack: false, lazyPages: false, pidfdStore: true, gpu: { driverLoaded: false, driverVersion: '', checkpointApi: false, unavailableReason: 'no NVIDIA driver', gpus: [] } });
    },
  },
  // Restore by image_reference pulls first; that pull is part of the one
  // Restore service call counted above, so it is not counted again.
  registry: {
    pull: (reference: string, id: string) => {
      if (typeof reference !== 'string' || !reference) violations.push(`pull: reference ${JSON.stringify(reference)}`);
      if (id && !validId(id)) violations.push(`pull: id ${JSON.stringify(id)}`);
      return Promise.resolve({ checkpoint: { id: id || 'pulled' } });
    },
  },
  checkpoints: {
    list: () => {
      serviceCalls++;
      return Promise.resolve([]);
    },
    get: (id: string) => {
      serviceCalls++;
      if (!validId(id)) violations.push(`get: id ${JSON.stringify(id)}`);
      return Promise.resolve({
        id,
        kind: 'dump',
        pid: 7,
        pids: [7],
        commandLine: ['x'],
        createdAt: '2026-01-01T00:00:00.000Z',
        criuVersion: '4.2.1',
        kernel: 'k',
        finalState: 'DEAD',
        logFile: 'dump.log',
        sizeBytes: 1,
        fileCount: 1,
        digestAlgorithm: 'xxh64',
        files: [],
        imagesDir: `/state/checkpoints/${id}`,
        children: [],
      });
    },
    delete: (id: string, cascade: unknown) => {
      serviceCalls++;
      if (!validId(id)) violations.push(`delete: id ${JSON.stringify(id)}`);
      if (typeof cascade !== 'boolean') violations.push(`delete: cascade ${String(cascade)}`);
      return Promise.resolve([id]);
    },
  },
} as unknown as Services;

const handlers = agentHandlers(fakeServices, silentLogger) as unknown as Record<MethodName, grpc.handleUnaryCall<unknown, unknown>>;

// ---------------------------------------------------------------------------
// A fake grpc call, and running one request through a handler.

class FakeCall extends EventEmitter {
  readonly metadata = new grpc.Metadata();
  constructor(readonly request: unknown) {
    super();
  }
  getDeadline(): grpc.Deadline {
    return Infinity;
  }
  getPeer(): string {
    return 'fuzz';
  }
}

interface Outcome {
  err: Partial<grpc.StatusObject> | null;
  res?: unknown;
  answers: number;
}

function invoke(method: MethodName, request: unknown): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const outcome: Outcome = { err: null, answers: 0 };
    const timer = setTimeout(() => reject(new Error(`${method} did not answer within 2 s`)), 2000);
    const callback: grpc.sendUnaryData<unknown> = (err, res) => {
      outcome.answers++;
      if (outcome.answers > 1) return; // counted, and reported by the caller
      outcome.err = err;
      outcome.res = res;
      clearTimeout(timer);
      // Let a second (wrong) answer show up before resolving.
      setImmediate(() => resolve(outcome));
    };
    handlers[method](new FakeCall(request) as unknown as grpc.ServerUnaryCall<unknown, unknown>, callback);
  });
}

// ---------------------------------------------------------------------------
// Inputs: structured requests with interesting values, their encodings, and mutations of them.

const PIDS = [0, -1, 1, 2, 7, 4_194_303, 4_194_304, 4_194_305, 2 ** 31 - 1, -(2 ** 31)];
const ODD = ['', '.', '..', '/', '\0', '\n', '-', ' ', 'é', '\u202E', '\uFFFD', '😀', '%', '\\', 'a', 'Z', '0', '_', '.'];
const IDS = ['', 'a', 'ok-1', 'web.1_2', '..', '.x', '-x', 'a/b', '../etc', 'a..b', 'x'.repeat(128), 'x'.repeat(129), 'nul\0', 'ü', 'x'.repeat(10_240)];

function randomString(max: number): string {
  const n = int(max + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += chance(0.7) ? String.fromCharCode(0x61 + int(26)) : pick(ODD);
  return s;
}

function randomId(): string {
  return chance(0.5) ? pick(IDS) : randomString(chance(0.9) ? 20 : 200);
}

function randomEnum(names: readonly string[]): unknown {
  return chance(0.8) ? pick(names) : int(12) - 3;
}

function randomList(): string[] {
  const n = chance(0.9) ? int(5) : pick([255, 256, 257, 1000]);
  return Array.from({ length: n }, () =>
    chance(0.95) ? randomString(30) : pick(['', 'x'.repeat(4096), 'x'.repeat(4097), 'é'.repeat(2048), 'é'.repeat(2049), 'a\0b']),
  );
}

function randomOptions(): object | null {
  if (chance(0.3)) return null;
  const o: Record<string, unknown> = {};
  for (const f of FLAGS) if (chance(0.15)) o[f] = true;
  for (const l of ['external', 'skip_mnt', 'enable_fs']) if (chance(0.2)) o[l] = randomList();
  if (chance(0.2)) o.manage_cgroups_mode = randomEnum(['CGROUP_MODE_UNSPECIFIED', ...CGROUP]);
  if (chance(0.2)) o.network_lock = randomEnum(['NETWORK_LOCK_UNSPECIFIED', ...NETLOCK]);
  if (chance(0.2)) o.ghost_limit = pick([0, 1, 2 ** 20, 2 ** 32 - 1]);
  if (chance(0.2)) o.freeze_timeout_seconds = pick([0, 1, 3600, 3601, 2 ** 32 - 1]);
  return o;
}

const FINAL = ['FINAL_STATE_UNSPECIFIED', 'FINAL_STATE_RUNNING', 'FINAL_STATE_STOPPED', 'FINAL_STATE_DEAD'];

function randomRequest(method: MethodName): object {
  const pid = chance(0.7) ? pick(PIDS) : int(2 ** 32) - 2 ** 31;
  switch (method) {
    case 'Dump':
    case 'PreDump':
      return { pid, checkpoint_id: randomId(), parent_checkpoint_id: chance(0.5) ? '' : randomId(), final_state: randomEnum(FINAL), options: randomOptions() };
    case 'Restore':
      return { checkpoint_id: randomId(), final_state: randomEnum(FINAL), options: randomOptions() };
    case 'Continue':
      return { pid };
    case 'GetCheckpoint':
      return { checkpoint_id: randomId() };
    case 'DeleteCheckpoint':
      return { checkpoint_id: randomId(), cascade: chance(0.5) };
    default:
      return {};
  }
}

function encode(method: MethodName, req: object): Buffer {
  return service[method]?.requestSerialize(req) ?? Buffer.alloc(0);
}

function randomBytes(max: number): Buffer {
  return Buffer.from(Array.from({ length: int(max + 1) }, () => int(256)));
}

/** A varint, as protobuf writes it. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** `b` with `ins` inserted at `at` and `del` bytes removed there. */
function splice(b: Buffer, at: number, del: number, ins: Buffer | number[] = []): Buffer {
  return Buffer.concat([b.subarray(0, at), Buffer.from(ins), b.subarray(Math.min(b.length, at + del))]);
}

function mutate(method: MethodName, input: Buffer): Buffer {
  let b: Buffer = Buffer.from(input);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    const at = int(b.length + 1);
    const i = at % Math.max(1, b.length);
    switch (int(8)) {
      case 0: // flip a bit
        if (b.length) b[i] = (b[i] as number) ^ (1 << int(8));
        break;
      case 1: // set a byte
        if (b.length) b[i] = pick([0x00, 0x7f, 0x80, 0xff, int(256)]);
        break;
      case 2: // truncate
        b = b.subarray(0, at);
        break;
      case 3: {
        // duplicate a slice in place
        const from = int(b.length + 1);
        b = splice(b, at, 0, b.subarray(from, from + 1 + int(16)));
        break;
      }
      case 4: // delete a slice
        b = splice(b, at, 1 + int(8));
        break;
      case 5: // append another request: every field it sets appears twice (protobuf merges, the last scalar wins)
        b = Buffer.concat([b, encode(method, randomRequest(method))]);
        break;
      case 6: // a field of a random number and wire type
        b = splice(b, at, 0, [...varint((int(40) << 3) | int(8)), ...varint(int(2 ** 32))]);
        break;
      default: // a length-delimited field of random content
        b = splice(b, at, 0, Buffer.concat([Buffer.from([...varint((int(12) << 3) | 2), ...varint(int(20))]), randomBytes(20)]));
    }
  }
  return b;
}

function input(method: MethodName): Buffer {
  switch (int(4)) {
    case 0:
      return randomBytes(chance(0.9) ? 64 : 1024);
    case 1:
      return encode(method, randomRequest(method));
    default:
      return mutate(method, encode(method, randomRequest(method)));
  }
}

// ---------------------------------------------------------------------------

describe('fuzz: request decoding and validation', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => process.off('unhandledRejection', onUnhandled));

  it(`survives ${FUZZ_MS} ms of random and mutated requests (seed ${SEED})`, async () => {
    console.log(`fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED}), ${FUZZ_MS} ms`);
    const stats = { runs: 0, undecodable: 0, ok: 0, refused: 0 };
    const messages = new Set<string>();
    const failures: string[] = [];
    const deadline = Date.now() + FUZZ_MS;

    while (Date.now() < deadline && failures.length < 5) {
      const method = pick(METHODS);
      const bytes = input(method);
      const where = `seed ${SEED}, run ${stats.runs}, ${method} ${bytes.toString('hex').slice(0, 400)}`;
      stats.runs++;
      let request: unknown;
      try {
        request = service[method]?.requestDeserialize(bytes);
      } catch (err) {
        // grpc-js answers these itself; decoding must fail with an Error, not anything stranger.
        if (!(err instanceof Error)) failures.push(`${where}: decoding threw a non-Error ${String(err)}`);
        stats.undecodable++;
        continue;
      }
      const callsBefore = serviceCalls;
      const violationsBefore = violations.length;
      let outcome: Outcome;
      try {
        outcome = await invoke(method, request);
      } catch (err) {
        failures.push(`${where}: ${String(err)}`);
        continue;
      }
      if (outcome.answers !== 1) failures.push(`${where}: answered ${outcome.answers} times`);
      if (violations.length > violationsBefore) failures.push(`${where}: the service received ${violations.slice(violationsBefore).join('; ')}`);
      if (outcome.err === null) {
        stats.ok++;
        if (serviceCalls !== callsBefore + 1) failures.push(`${where}: OK after ${serviceCalls - callsBefore} service calls`);
        try {
          service[method]?.responseSerialize(outcome.res);
        } catch (err) {
          failures.push(`${where}: the response does not serialize: ${String(err)}`);
        }
      } else {
        stats.refused++;
        const { code, details } = outcome.err;
        if (serviceCalls !== callsBefore) failures.push(`${where}: refused after calling the service`);
        if (code !== grpc.status.INVALID_ARGUMENT) failures.push(`${where}: status ${String(code)} (${String(details)}), expected INVALID_ARGUMENT`);
        if (typeof details !== 'string' || details.trim() === '') failures.push(`${where}: empty message`);
        else messages.add(details.replace(/[-\d]+|"[^"]*"/g, '#').slice(0, 60));
      }
    }
    // Let any stray rejection surface before looking.
    await new Promise((r) => setImmediate(r));
    console.log(`fuzz: ${JSON.stringify(stats)}; ${messages.size} kinds of refusal`);
    expect(failures).toEqual([]);
    expect(unhandled).toEqual([]);
    expect(violations).toEqual([]);
    // The run reached the handlers and both answers, not only the decoder.
    expect(stats.ok).toBeGreaterThan(0);
    expect(stats.refused).toBeGreaterThan(0);
  });
});
