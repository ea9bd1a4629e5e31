import * as grpc from '@grpc/grpc-js';
import { toAgentError, type ErrorKind } from '../errors';

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

/** The one place where errors become gRPC statuses (toAgentError classifies the ones not raised as AgentErrors). */
export function toStatus(err: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  const e = toAgentError(err);
  if (e.details.criuErrno !== undefined) metadata.set('criu-errno', String(e.details.criuErrno));
  if (e.details.criuLog !== undefined) metadata.set('criu-log', e.details.criuLog);
  return { code: CODES[e.kind], details: e.message, metadata };
}
