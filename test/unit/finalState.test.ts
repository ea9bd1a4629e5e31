import { resolveFinalState, type Operation, type RequestedState } from '../../src/finalState';

type Want = { applied: string; ignored: boolean; requires: string } | 'error';

// Every cell of operation x requested state, written out so that a change to
// the rules has to change this table too.
const CELLS: [Operation, RequestedState, Want][] = [
  ['dump', 'UNSPECIFIED', { applied: 'DEAD', ignored: false, requires: 'alive' }],
  ['dump', 'RUNNING', { applied: 'RUNNING', ignored: false, requires: 'alive' }],
  ['dump', 'STOPPED', { applied: 'STOPPED', ignored: false, requires: 'alive' }],
  ['dump', 'DEAD', { applied: 'DEAD', ignored: false, requires: 'alive' }],
  ['pre-dump', 'UNSPECIFIED', { applied: 'RUNNING', ignored: false, requires: 'alive' }],
  ['pre-dump', 'RUNNING', { applied: 'RUNNING', ignored: false, requires: 'alive' }],
  ['pre-dump', 'STOPPED', { applied: 'RUNNING', ignored: true, requires: 'alive' }],
  ['pre-dump', 'DEAD', { applied: 'RUNNING', ignored: true, requires: 'alive' }],
  ['restore', 'UNSPECIFIED', { applied: 'RUNNING', ignored: false, requires: 'none' }],
  ['restore', 'RUNNING', { applied: 'RUNNING', ignored: false, requires: 'none' }],
  ['restore', 'STOPPED', { applied: 'STOPPED', ignored: false, requires: 'none' }],
  ['restore', 'DEAD', 'error'],
  ['continue', 'UNSPECIFIED', { applied: 'RUNNING', ignored: false, requires: 'stopped' }],
  ['continue', 'RUNNING', { applied: 'RUNNING', ignored: false, requires: 'stopped' }],
  ['continue', 'STOPPED', 'error'],
  ['continue', 'DEAD', 'error'],
];

describe('resolveFinalState', () => {
  it.each(CELLS)('%s with %s', (op, requested, want) => {
    const got = resolveFinalState(op, requested);
    if (want === 'error') {
      expect(got.ok).toBe(false);
      if (!got.ok) expect(got.reason).toMatch(/RUNNING/);
    } else {
      expect(got).toEqual({ ok: true, ...want });
    }
  });

  it('covers every cell of the table', () => {
    const ops: Operation[] = ['dump', 'pre-dump', 'restore', 'continue'];
    const states: RequestedState[] = ['UNSPECIFIED', 'RUNNING', 'STOPPED', 'DEAD'];
    expect(CELLS.map(([o, s]) => `${o}/${s}`).sort()).toEqual(ops.flatMap((o) => states.map((s) => `${o}/${s}`)).sort());
  });
});
