import * as grpc from '@grpc/grpc-js';
import { AgentError, type ErrorKind } from '../errors';

const CODES: Record<ErrorKind, grpc.status> = {
  'invalid-argument': grpc.status.INVALID_ARGUMENT,
  'not-found': grpc.status.NOT_FOUND,
  'already-exists': grpc.status.ALREADY_EXISTS,
  'failed-precondition': grpc.status.FAILED_PRECONDITION,
  'permission-denied': grpc.status.PERMISSION_DENIED,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  'resource-exhausted': grpc.status.RESOURCE_EXHAUSTED,
  aborted: grpc.status.ABORTED,
  cancelled: grpc.status.CANCELLED,
  'deadline-exceeded': grpc.status.DEADLINE_EXCEEDED,
  unavailable: grpc.status.UNAVAILABLE,
  'data-loss': grpc.status.DATA_LOSS,
  internal: grpc.status.INTERNAL,
};

/** The one place where errors become gRPC statuses. Unknown errors are INTERNAL with their message. */
export function toStatus(err: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (err instanceof AgentError) {
    if (err.details.criuErrno !== undefined) metadata.set('criu-errno', String(err.details.criuErrno));
    if (err.details.criuLog !== undefined) metadata.set('criu-log', err.details.criuLog);
    return { code: CODES[err.kind], details: err.message, metadata };
  }
  const message = err instanceof Error ? err.message : String(err);
  // A full disk the layer below did not name itself is still not an agent bug: the caller can free space.
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return { code: grpc.status.RESOURCE_EXHAUSTED, details: `the agent's file system is full: ${message}`, metadata };
  }
  return { code: grpc.status.INTERNAL, details: `internal error: ${message}`, metadata };
}
