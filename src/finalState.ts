/**
 * The final-state rules of every operation, in one table (CRIU's "Final
 * states": dump defaults to dead, restore to running, pre-dump always leaves
 * the tree running and ignores --leave-stopped/--leave-running).
 */
export type Operation = 'dump' | 'pre-dump' | 'restore' | 'continue';
export type FinalState = 'RUNNING' | 'STOPPED' | 'DEAD';
export type RequestedState = FinalState | 'UNSPECIFIED';

/** What the tree must look like before the operation may start. */
export type TreePrecondition = 'alive' | 'stopped' | 'none';

export type FinalStateDecision =
  | { ok: true; applied: FinalState; ignored: boolean; requires: TreePrecondition }
  | { ok: false; reason: string };

const apply = (applied: FinalState, requires: TreePrecondition, ignored = false): FinalStateDecision => ({
  ok: true,
  applied,
  ignored,
  requires,
});
const refuse = (reason: string): FinalStateDecision => ({ ok: false, reason });

const TABLE: Readonly<Record<Operation, Readonly<Record<RequestedState, FinalStateDecision>>>> = {
  dump: {
    UNSPECIFIED: apply('DEAD', 'alive'),
    RUNNING: apply('RUNNING', 'alive'),
    STOPPED: apply('STOPPED', 'alive'),
    DEAD: apply('DEAD', 'alive'),
  },
  'pre-dump': {
    UNSPECIFIED: apply('RUNNING', 'alive'),
    RUNNING: apply('RUNNING', 'alive'),
    // CRIU ignores --leave-stopped for pre-dump: the tree must keep running
    // for the next round to have something to track.
    STOPPED: apply('RUNNING', 'alive', true),
    DEAD: apply('RUNNING', 'alive', true),
  },
  restore: {
    UNSPECIFIED: apply('RUNNING', 'none'),
    RUNNING: apply('RUNNING', 'none'),
    STOPPED: apply('STOPPED', 'none'),
    DEAD: refuse(
      'final_state DEAD is not valid for Restore: a restored tree ends RUNNING or STOPPED; to discard a checkpoint, do not restore it',
    ),
  },
  continue: {
    UNSPECIFIED: apply('RUNNING', 'stopped'),
    RUNNING: apply('RUNNING', 'stopped'),
    STOPPED: refuse('Continue always leaves the tree RUNNING'),
    DEAD: refuse('Continue always leaves the tree RUNNING'),
  },
};

/** Decides the final state an operation applies for the state a caller asked for. Pure. */
export function resolveFinalState(op: Operation, requested: RequestedState): FinalStateDecision {
  return TABLE[op][requested];
}
