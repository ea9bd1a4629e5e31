/**
 * Domain errors. Every layer below the server throws these (or lets them
 * through); src/server/status.ts maps them to gRPC status codes in one place,
 * so no layer below the server knows about gRPC.
 */
export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'permission-denied'
  | 'unauthenticated'
  | 'resource-exhausted'
  | 'aborted'
  | 'cancelled'
  | 'deadline-exceeded'
  | 'unavailable'
  | 'data-loss'
  | 'internal';

/** Extra facts a caller can act on; sent as gRPC trailing metadata. */
export interface ErrorDetails {
  /** errno CRIU reported (cr_errno), when CRIU failed. */
  criuErrno?: number;
  /** Path of CRIU's log on this node, when there is one. */
  criuLog?: string;
}

export class AgentError extends Error {
  readonly kind: ErrorKind;
  readonly details: ErrorDetails;

  constructor(kind: ErrorKind, message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.kind = kind;
    this.details = options.details ?? {};
  }
}

export function invalidArgument(message: string): AgentError {
  return new AgentError('invalid-argument', message);
}

/** True when `err` is the reason an AbortSignal fired with (see abortReason). */
export function isAbort(err: unknown): err is AgentError {
  return err instanceof AgentError && (err.kind === 'cancelled' || err.kind === 'deadline-exceeded');
}

/** An error's message; also for errors of another V8 context (the addon's, jest's sandbox) that fail `instanceof Error`. */
export function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') return err.message;
  return String(err);
}

/**
 * Any error as an AgentError: an AgentError as it is; a full disk the layer
 * below did not name itself (ENOSPC, EDQUOT) is no agent bug, the caller can
 * free space; anything else is internal, with its message.
 */
export function toAgentError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  const message = errorMessage(err);
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new AgentError('resource-exhausted', `the agent's file system is full: ${message}`, { cause: err });
  return new AgentError('internal', `internal error: ${message}`, { cause: err });
}
