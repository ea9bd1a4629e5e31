import { invalidArgument } from '../errors';

export const MAX_ID_LENGTH = 128;
const ID = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Checkpoint ids become directory names under the state directory, so they are
 * held to a portable file-name alphabet: no separators, no "..", no leading
 * dot (the store keeps its temporary directories as dot-names) or dash.
 */
/** The same rules as validateCheckpointId, as a test (for ids read from disk). */
export function isValidCheckpointId(id: string): boolean {
  return id !== '' && id.length <= MAX_ID_LENGTH && ID.test(id) && !id.includes('..');
}

export function validateCheckpointId(id: string, field = 'checkpoint_id'): string {
  if (id === '') throw invalidArgument(`${field} is required: name the checkpoint, e.g. "web-1-2026-11-29"`);
  if (id.length > MAX_ID_LENGTH) {
    throw invalidArgument(`${field} is ${id.length} characters long; at most ${MAX_ID_LENGTH} are allowed`);
  }
  if (!ID.test(id) || id.includes('..')) {
    throw invalidArgument(
      `${field} ${JSON.stringify(id.slice(0, 64))} is not a valid checkpoint id: use letters, digits, '.', '_' and '-', ` +
        `not starting with '.' or '-' and without '..'`,
    );
  }
  return id;
}
