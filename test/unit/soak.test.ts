/**
 * The soak's judges (bench/soak): the pieces that decide whether a run broke
 * an invariant, checked on made-up evidence so that a judge that never
 * fires, or fires on noise, shows here rather than in a 30-minute run.
 */
import * as grpc from '@grpc/grpc-js';
import { fateOf } from '../../bench/soak/context';
import { faultSchedule } from '../../bench/soak/faults';
import { Ledger } from '../../bench/soak/ledger';
import { placeOf } from '../../bench/soak/ops';
import { innermostPid } from '../../bench/soak/procs';
import { judge, type ResourceSample } from '../../bench/soak/resources';
import { Rng } from '../../bench/soak/rng';

const MiB = 2 ** 20;

function series(n: number, f: (i: number) => Partial<ResourceSample>, incarnation = 1, every = 10): ResourceSample[] {
  return Array.from({ length: n }, (_, i) => ({
    t: i * every,
    incarnation,
    rssBytes: 100 * MiB,
    fds: 22,
    heapUsedBytes: 15 * MiB,
    eventLoopP99Ms: 20,
    ...f(i),
  }));
}

describe('resources: judge', () => {
  it('finds nothing in flat figures with noise', () => {
    const [fig] = judge(
      series(12, (i) => ({
        rssBytes: (100 + (i % 3) * 4) * MiB,
        fds: 22 + (i % 2),
        heapUsedBytes: (15 + (i % 4)) * MiB,
        eventLoopP99Ms: 20 + (i % 5) * 10,
      })),
    );
    expect(fig?.judged).toBe(true);
    expect(fig?.growth).toEqual([]);
  });

  it('flags RSS growing more than 20% after warm-up, and reports its slope', () => {
    const [fig] = judge(series(12, (i) => ({ rssBytes: (100 + i * 5) * MiB })));
    expect(fig?.growth.some((g) => g.startsWith('RSS'))).toBe(true);
    expect(fig?.rssMiB?.slopePerMin).toBeCloseTo(30, 5);
  });

  it('ignores growth during the warm-up', () => {
    // 120 s of samples: warm-up is 24 s; the jump happens in the first 20 s.
    const [fig] = judge(series(13, (i) => ({ rssBytes: (i < 2 ? 60 : 100) * MiB })));
    expect(fig?.growth).toEqual([]);
  });

  it('flags one descriptor more at every quiet point', () => {
    const [fig] = judge(series(12, (i) => ({ fds: 22 + i })));
    expect(fig?.growth).toEqual([expect.stringMatching(/^open descriptors/)]);
  });

  it('flags heap growth, not small heap noise', () => {
    expect(judge(series(12, (i) => ({ heapUsedBytes: (15 + i * 2) * MiB })))[0]?.growth).toEqual([expect.stringMatching(/^heap/)]);
    expect(judge(series(12, (i) => ({ heapUsedBytes: (5 + (i > 8 ? 3 : 0)) * MiB })))[0]?.growth).toEqual([]);
  });

  it('reads the heap by its floor: a sawtooth that ends on a peak is no leak, a rising floor is', () => {
    // Collections bring the heap back to 25 MiB; the last two samples land just before one.
    const sawtooth = (i: number): number => (i >= 10 ? 34 : i % 3 === 2 ? 31 : 25);
    expect(judge(series(12, (i) => ({ heapUsedBytes: sawtooth(i) * MiB })))[0]?.growth).toEqual([]);
    expect(judge(series(12, (i) => ({ heapUsedBytes: (sawtooth(i) + i * 2) * MiB })))[0]?.growth).toEqual([expect.stringMatching(/^heap/)]);
  });

  it('reads RSS by its floor too: transfer buffers that end on a peak are no leak, a rising floor is', () => {
    // As measured with 400 export/import cycles: RSS swings 128-155 MiB around a flat heap.
    const swing = (i: number): number => (i >= 10 ? 160 : i % 3 === 2 ? 155 : 128);
    expect(judge(series(12, (i) => ({ rssBytes: swing(i) * MiB })))[0]?.growth).toEqual([]);
    expect(judge(series(12, (i) => ({ rssBytes: (swing(i) + i * 8) * MiB })))[0]?.growth).toEqual([expect.stringMatching(/^RSS/)]);
  });

  it('does not take a dip of RSS at the start for its level: the start is its usual level, the end its floor', () => {
    // As seen in a 30-minute soak: one sample 28 MiB below the rest, heap flat.
    const dipped = (i: number): number => (i === 4 ? 128 : 156 + (i % 2) * 4);
    expect(judge(series(12, (i) => ({ rssBytes: dipped(i) * MiB })))[0]?.growth).toEqual([]);
    // A leak after such a dip still shows: even the end's lowest sample is far above the start's usual level.
    expect(judge(series(12, (i) => ({ rssBytes: (dipped(i) + (i >= 9 ? 40 : 0)) * MiB })))[0]?.growth).toEqual([expect.stringMatching(/^RSS/)]);
  });

  it('judges each agent process apart, and not one with too few samples', () => {
    const figs = judge([...series(3, () => ({}), 1), ...series(12, (i) => ({ t: 100 + i * 10, rssBytes: (200 + i * 10) * MiB }), 2)]);
    expect(figs.map((f) => [f.incarnation, f.judged])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(figs[0]?.growth).toEqual([]);
    expect(figs[1]?.growth.some((g) => g.startsWith('RSS'))).toBe(true);
  });
});

describe('ledger: compare with a listing', () => {
  const tree = { shape: 'single' as const, pids: [4242] };

  it('names acknowledged checkpoints missing, deleted or failed ones listed, and strangers', () => {
    const l = new Ledger();
    l.record('kept', 'present', 'dump', tree);
    l.record('lost', 'present', 'dump', tree);
    l.record('gone', 'deleted', 'dump', tree);
    l.record('failed', 'absent', 'dump', tree);
    const { lost, extra } = l.compare(new Set(['kept', 'gone', 'failed', 'stranger']));
    expect(lost).toEqual([expect.stringContaining('lost was acknowledged')]);
    expect(extra).toEqual([
      expect.stringContaining('gone was acknowledged deleted'),
      expect.stringContaining('failed is listed, but its Dump failed'),
      expect.stringContaining('stranger is listed, but no Dump of the soak created it'),
    ]);
  });

  it('skips entries an op holds, and settles unknown ones once listed', () => {
    const l = new Ledger();
    l.record('busy', 'present', 'dump', tree).busy = true;
    l.record('maybe', 'unknown', 'dump', tree);
    l.record('never', 'unknown', 'dump', tree);
    expect(l.compare(new Set(['maybe']))).toEqual({ lost: [], extra: [] });
    expect(l.get('maybe')?.fate).toBe('present');
    expect(l.get('never')?.fate).toBe('unknown');
    // From now on "maybe" must stay.
    expect(l.compare(new Set()).lost).toEqual([expect.stringContaining('maybe')]);
  });
});

describe('ledger: the fate an answer gives a checkpoint', () => {
  it('OK and an ABORTED naming this checkpoint complete and kept: present; a lost answer: unknown; any other failure: absent', () => {
    const kept = 'dump into checkpoint c1 finished, but ...; checkpoint c1 is complete and kept at /x/c1 (restore it, ...)';
    expect(fateOf({ code: grpc.status.OK, details: '' }, 'c1')).toBe('present');
    expect(fateOf({ code: grpc.status.ABORTED, details: kept }, 'c1')).toBe('present');
    expect(fateOf({ code: grpc.status.ABORTED, details: kept }, 'c2')).toBe('absent');
    expect(fateOf({ code: grpc.status.ABORTED, details: 'pid 5 is busy: dump of pid 5 into c9 is in progress' }, 'c1')).toBe('absent');
    expect(fateOf({ code: grpc.status.UNAVAILABLE, details: '' }, 'c1')).toBe('unknown');
    expect(fateOf({ code: grpc.status.DEADLINE_EXCEEDED, details: '' }, 'c1')).toBe('unknown');
    expect(fateOf({ code: grpc.status.INTERNAL, details: 'CRIU failed' }, 'c1')).toBe('absent');
  });
});

describe('seeded choices', () => {
  it('the same seed and stream draw the same numbers; another stream others', () => {
    const draw = (seed: number, stream: number): number[] => {
      const r = new Rng(seed, stream);
      return Array.from({ length: 8 }, () => r.int(0, 1000));
    };
    expect(draw(17, 0)).toEqual(draw(17, 0));
    expect(draw(17, 0)).not.toEqual(draw(17, 1));
    expect(draw(17, 0)).not.toEqual(draw(18, 0));
  });

  it('the fault schedule is a function of seed and length, and a 2-minute run gets every kind', () => {
    const a = faultSchedule(new Rng(17, 1001), 120);
    expect(faultSchedule(new Rng(17, 1001), 120)).toEqual(a);
    expect(new Set(a.map((f) => f.kind))).toEqual(new Set(['criu-kill', 'agent-kill', 'fs-fill', 'target-kill']));
    expect(a.every((f, i) => i === 0 || (a[i - 1]?.atSec ?? 0) <= f.atSec)).toBe(true);
    expect(a.every((f) => f.atSec > 0 && f.atSec < 120)).toBe(true);
  });
});

describe('migrate: where a tree is', () => {
  it('a tree is running, stopped, partly there, or not there on one node', () => {
    expect(placeOf(['S', 'R', 'S'])).toBe('running');
    expect(placeOf(['T', 't', 'T'])).toBe('stopped');
    expect(placeOf([undefined, undefined])).toBe('none');
    // Zombies are gone: a killed tree not yet reaped is not on the node.
    expect(placeOf(['Z', 'Z', undefined])).toBe('none');
    // Half a tree (a child died or was never restored), or a mix of stopped and running tasks.
    expect(placeOf(['S', undefined, 'S'])).toBe('partial');
    expect(placeOf(['S', 'Z'])).toBe('partial');
    expect(placeOf(['S', 'T'])).toBe('partial');
  });

  it("a process's pid in its own pid namespace comes from the last NSpid field", () => {
    expect(innermostPid('Name:\tpython3\nNSpid:\t51234\t4021\nNSpgid:\t1\n')).toBe(4021);
    expect(innermostPid('Name:\tnode\nNSpid:\t812\n')).toBe(812);
    expect(innermostPid('Name:\tx\n')).toBeUndefined();
  });
});
