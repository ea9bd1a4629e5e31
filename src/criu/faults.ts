import type { CriuFaults, FaultAction } from './client';
import type { CriuOperation } from './errors';

/**
 * TEST ONLY: the environment variable that arms fault hooks at CRIU's
 * notifications, so tests can cancel or kill at an exact phase of a dump or
 * restore instead of relying on timing. Never set it on a real node: it
 * makes the agent cancel, kill CRIU or kill itself on purpose.
 *
 * Its value is a list of `op:script:when:action` separated by commas, e.g.
 * `dump:query-ext-files:after:cancel,restore:post-restore:before:kill-criu`:
 * op is dump or restore, script a CRIU notification (NOTIFY_ROLES in
 * client.ts), when `before` or `after` the agent's answer, and action
 * `cancel` (as if the client cancelled at that moment), `kill-criu` (SIGKILL
 * of the CRIU process, as by someone else), `kill-agent` (the agent
 * SIGKILLs itself), `fill-disk` (the file system of the checkpoints is
 * filled to the last byte with a file named FILL_FILE next to them) or
 * `stall` (the answer waits STALL_MS, as from an agent under heavy load,
 * while CRIU holds the tree).
 */
export const TEST_FAULTS_ENV = 'CRIU_AGENT_TEST_FAULTS';

const ACTIONS: readonly FaultAction[] = ['cancel', 'kill-criu', 'kill-agent', 'fill-disk', 'stall'];

/** The faults `spec` arms; undefined for an empty spec. Throws on a malformed one (a test's typo must not pass silently). */
export function parseFaults(spec: string | undefined): CriuFaults | undefined {
  if (!spec?.trim()) return undefined;
  const rules = spec.split(',').map((item) => {
    const [op, script, when, action, ...rest] = item.trim().split(':');
    if (
      !op ||
      !script ||
      (when !== 'before' && when !== 'after') ||
      !ACTIONS.includes(action as FaultAction) ||
      rest.length > 0
    ) {
      throw new Error(`${TEST_FAULTS_ENV}: ${JSON.stringify(item)} is not op:script:before|after:${ACTIONS.join('|')}`);
    }
    return { op, script, when, action: action as FaultAction };
  });
  return {
    at: (op: CriuOperation, script: string, when: 'before' | 'after') =>
      rules.find((r) => r.op === op && r.script === script && r.when === when)?.action,
  };
}
