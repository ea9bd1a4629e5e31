/**
 * Prometheus metrics (--metrics-listen) of a real agent after real operations:
 * calls by method and status code, duration histograms, frozen time and bytes
 * written from CRIU's statistics, calls in flight (up during a dump, back to
 * 0 after, also after a cancel stopped CRIU), and the CRIU version.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { CheckResponse__Output } from '../../src/generated/criu_agent/v1/CheckResponse';
import type { DumpResponse__Output } from '../../src/generated/criu_agent/v1/DumpResponse';
import { waitForPidFree } from '../../src/proctree';
import { call, expectStatus, startAgent, type AgentProcess, hasDumpLog } from '../helpers/agent';
import { killAllTargets, startTarget } from '../helpers/target';

jest.setTimeout(120_000);

let agent: AgentProcess;
let metricsUrl: string;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

/** The samples of the Prometheus text format (labels without escapes, which these metrics do not need). */
function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
      if (!m) throw new Error(`unparsable metrics line: ${l}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1] ?? '', x[2] ?? '']));
      return { name: m[1] ?? '', labels, value: Number(m[3]) };
    });
}

async function scrape(): Promise<Sample[]> {
  const r = await get(metricsUrl);
  expect(r.status).toBe(200);
  return parse(r.body);
}

/** The value of the one sample with this name and (at least) these labels; undefined when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  agent = await startAgent({ args: ['--metrics-listen', '127.0.0.1:0'] });
  const listening = agent
    .output()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { msg?: string; metrics?: string })
    .find((l) => l.msg === 'criu-agent listening');
  metricsUrl = listening?.metrics ?? '';
  expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  await until('the first CRIU probe', () => Promise.resolve(/CRIU answers/.test(agent.output()) || undefined));
});

afterEach(async () => {
  await killAllTargets();
});

afterAll(async () => {
  await agent?.dispose();
});

describe('metrics', () => {
  let dumped: DumpResponse__Output;
  let checked: CheckResponse__Output;

  beforeAll(async () => {
    checked = await call<CheckResponse__Output>(agent.client, 'Check', {});
    const t = await startTarget();
    dumped = await call<DumpResponse__Output>(agent.client, 'Dump', {
      pid: t.pid,
      checkpoint_id: `metrics-${process.pid}`,
      final_state: 'FINAL_STATE_RUNNING',
    });
    // Two failed Dumps: refused before CRIU (INVALID_ARGUMENT), and the id taken (ALREADY_EXISTS).
    await expectStatus(call(agent.client, 'Dump', { pid: 0, checkpoint_id: 'metrics-bad' }), grpc.status.INVALID_ARGUMENT);
    await expectStatus(call(agent.client, 'Dump', { pid: t.pid, checkpoint_id: `metrics-${process.pid}` }), grpc.status.ALREADY_EXISTS);
    await t.kill();
  });

  it('serves the Prometheus text format at /metrics, and nothing else', async () => {
    const r = await get(metricsUrl);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toMatch(/^# HELP criu_agent_calls_total /m);
    expect(r.body).toMatch(/^# TYPE criu_agent_call_duration_seconds histogram$/m);
    expect((await get(metricsUrl.replace(/\/metrics$/, '/other'))).status).toBe(404);
  });

  it('counts calls by method and status code', async () => {
    const s = await scrape();
    expect(value(s, 'criu_agent_calls_total', { method: 'Dump', code: 'OK' })).toBe(1);
    expect(value(s, 'criu_agent_calls_total', { method: 'Dump', code: 'INVALID_ARGUMENT' })).toBe(1);
    expect(value(s, 'criu_agent_calls_total', { method: 'Dump', code: 'ALREADY_EXISTS' })).toBe(1);
    expect(value(s, 'criu_agent_calls_total', { method: 'Check', code: 'OK' })).toBe(1);
    // Health and reflection calls are not the agent's operations.
    expect(s.filter((x) => x.name === 'criu_agent_calls_total' && !/^[A-Z]\w+$/.test(x.labels.method ?? ''))).toEqual([]);
  });

  it('keeps duration histograms per method and code, with cumulative buckets', async () => {
    const s = await scrape();
    const buckets = s.filter(
      (x) => x.name === 'criu_agent_call_duration_seconds_bucket' && x.labels.method === 'Dump' && x.labels.code === 'OK',
    );
    expect(buckets.length).toBeGreaterThan(10);
    expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b));
    expect(buckets.at(-1)).toMatchObject({ labels: { le: '+Inf' }, value: 1 });
    expect(value(s, 'criu_agent_call_duration_seconds_count', { method: 'Dump', code: 'OK' })).toBe(1);
    // A real dump takes more than the 5 ms of the first bucket; the refused one less than 10 s.
    expect(value(s, 'criu_agent_call_duration_seconds_bucket', { method: 'Dump', code: 'OK', le: '0.005' })).toBe(0);
    expect(value(s, 'criu_agent_call_duration_seconds_bucket', { method: 'Dump', code: 'INVALID_ARGUMENT', le: '10' })).toBe(1);
  });

  it("records the dump's frozen time, pages and bytes from the reply's statistics", async () => {
    const s = await scrape();
    expect(dumped.stats).not.toBeNull();
    expect(value(s, 'criu_agent_frozen_time_seconds_count', { method: 'Dump' })).toBe(1);
    expect(value(s, 'criu_agent_frozen_time_seconds_sum', { method: 'Dump' })).toBeCloseTo(Number(dumped.stats?.frozen_time_us) / 1e6, 6);
    expect(value(s, 'criu_agent_frozen_time_seconds_sum', { method: 'Dump' })).toBeGreaterThan(0);
    expect(value(s, 'criu_agent_frozen_time_seconds_bucket', { method: 'Dump', le: '+Inf' })).toBe(1);
    expect(value(s, 'criu_agent_pages_written_total', { method: 'Dump' })).toBe(Number(dumped.stats?.pages_written));
    expect(value(s, 'criu_agent_written_bytes_total', { method: 'Dump' })).toBe(Number(dumped.size_bytes));
    expect(Number(dumped.size_bytes)).toBeGreaterThan(Number(dumped.stats?.pages_written) * 4096 - 1);
  });

  it('reports the CRIU version (from the check at start and each Check) and that CRIU answers', async () => {
    const s = await scrape();
    expect(checked.criu_version).toMatch(/^\d+\.\d+/);
    expect(value(s, 'criu_agent_criu_info', { version: checked.criu_version, transport: checked.criu_transport })).toBe(1);
    expect(s.filter((x) => x.name === 'criu_agent_criu_info')).toHaveLength(1);
    expect(value(s, 'criu_agent_criu_up')).toBe(1);
  });

  it('shows a dump in flight while it runs, and 0 once it ended', async () => {
    const t = await startTarget({ children: 0, extraMiB: 256 });
    const p = call<DumpResponse__Output>(agent.client, 'Dump', {
      pid: t.pid,
      checkpoint_id: `metrics-inflight-${process.pid}`,
      final_state: 'FINAL_STATE_RUNNING',
    });
    let settled = false;
    void p.then(
      () => (settled = true),
      () => (settled = true),
    );
    const during = await until('Dump in flight', async () => {
      const v = value(await scrape(), 'criu_agent_calls_in_flight', { method: 'Dump' });
      return v === 1 || settled ? v : undefined;
    });
    expect(during).toBe(1);
    await p;
    const s = await scrape();
    expect(value(s, 'criu_agent_calls_in_flight', { method: 'Dump' })).toBe(0);
    expect(value(s, 'criu_agent_calls_in_flight', { method: 'Check' })).toBe(0);
    expect(value(s, 'criu_agent_calls_total', { method: 'Dump', code: 'OK' })).toBe(2);
  });

  it('counts a dump the client cancelled mid-CRIU as CANCELLED once CRIU is stopped, and in flight until then', async () => {
    // As in agent.test.ts: 512 MiB take CRIU about a second to write here;
    // the call is cancelled once CRIU has started (its log exists).
    const t = await startTarget({ children: 1, extraMiB: 512 });
    const id = `metrics-cancel-${process.pid}`;
    const checkpoints = path.join(agent.stateDir, 'checkpoints');
    const criuStarted = (): boolean =>
      fs.readdirSync(checkpoints).some((n) => n.startsWith(`.tmp-${id}-`) && hasDumpLog(path.join(checkpoints, n)));
    const code = await new Promise<grpc.status | undefined>((resolve) => {
      const c = agent.client.Dump({ pid: t.pid, checkpoint_id: id, final_state: 'FINAL_STATE_RUNNING' }, (err) => resolve(err?.code));
      void (async () => {
        for (let i = 0; i < 400 && !criuStarted(); i++) await new Promise((res) => setTimeout(res, 10));
        await new Promise((res) => setTimeout(res, 150));
        c.cancel();
      })();
    });
    expect(code).toBe(grpc.status.CANCELLED);
    const s = await until('the cancelled Dump to be counted', async () => {
      const samples = await scrape();
      return value(samples, 'criu_agent_calls_total', { method: 'Dump', code: 'CANCELLED' }) === 1 ? samples : undefined;
    });
    expect(value(s, 'criu_agent_calls_in_flight', { method: 'Dump' })).toBe(0);
    // The tree runs on, and no frozen time was recorded for the cancelled dump.
    expect((await t.query()).pid).toBe(t.pid);
    expect(value(s, 'criu_agent_frozen_time_seconds_count', { method: 'Dump' })).toBe(2);
    await t.kill();
    expect(await waitForPidFree(t.pid, 10_000)).toBe(true);
  });
});
