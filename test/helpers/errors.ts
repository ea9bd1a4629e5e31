import { AgentError } from '../../src/errors';

/** The AgentError a promise rejects with (fails the test when it resolves or rejects with something else). */
export async function agentRejection(p: Promise<unknown>): Promise<AgentError> {
  const err: unknown = await p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}
