/**
 * Request validation: every field of every request is checked here, before
 * any service sees it, so the services only ever receive well-formed
 * parameters (a pid in Linux's range, checkpoint ids that are safe directory
 * names, known enum values, bounded option lists). Each problem is
 * INVALID_ARGUMENT with a message naming the field and the rule.
 *
 * The requests come from protobufjs's toObject (see src/proto.ts): enum values
 * by name, an enum number this agent does not know as a bare number, unset
 * scalars as their defaults and unset messages as null. Anything else (a
 * caller building requests by hand) is refused, never trusted.
 */
import { invalidArgument } from '../errors';
import { resolveFinalState, type Operation, type RequestedState } from '../finalState';
import type { DumpParams, RestoreParams } from '../service';
import type { MigrateParams } from '../service/migrate';
import { validateDumpOptions, validateRestoreOptions } from '../service/options';
import { parseReference } from '../registry/reference';
import { validateCheckpointId } from '../store';
import { chunkFromWire } from '../transfer';

/** Linux's PID_MAX_LIMIT (4M): pids are below it on every kernel. */
export const PID_MAX_LIMIT = 4_194_304;
/** The largest pid any Linux kernel hands out. */
export const MAX_PID = PID_MAX_LIMIT - 1;

const FINAL_STATES: Record<string, RequestedState> = {
  FINAL_STATE_UNSPECIFIED: 'UNSPECIFIED',
  FINAL_STATE_RUNNING: 'RUNNING',
  FINAL_STATE_STOPPED: 'STOPPED',
  FINAL_STATE_DEAD: 'DEAD',
};
const FINAL_STATE_NAMES = Object.keys(FINAL_STATES);

type Fields = Record<string, unknown>;

function fields(req: unknown): Fields {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) throw invalidArgument('the request must be a message');
  return req as Fields;
}

/** A pid the agent may be asked about: 1 to MAX_PID. */
export function pidOf(v: unknown, field = 'pid'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw invalidArgument(
      `${field} must be a positive process id, got ${typeof v === 'number' ? String(v) : typeof v}${v === 0 ? ' (is it set?)' : ''}`,
    );
  }
  if (v > MAX_PID) {
    throw invalidArgument(
      `${field} ${v} is larger than any Linux pid (at most ${MAX_PID}: the kernel's PID_MAX_LIMIT is ${PID_MAX_LIMIT})`,
    );
  }
  return v;
}

/** The final state asked for, by name; an unknown enum value is INVALID_ARGUMENT. */
export function requestedStateOf(v: unknown, field = 'final_state'): RequestedState {
  // An enum number this agent does not know arrives as a bare number; an
  // inherited property name (e.g. "toString") is no enum value either.
  const s = typeof v === 'string' && Object.prototype.hasOwnProperty.call(FINAL_STATES, v) ? FINAL_STATES[v] : undefined;
  if (v === undefined || v === null) return 'UNSPECIFIED';
  if (!s) {
    const shown = typeof v === 'string' ? JSON.stringify(v.slice(0, 64)) : typeof v === 'number' ? String(v) : typeof v;
    throw invalidArgument(`${field} ${shown} is not one of ${FINAL_STATE_NAMES.join(', ')}`);
  }
  return s;
}

/** requestedStateOf, and refused when the operation does not allow that state (e.g. DEAD for Restore). */
function finalStateFor(op: Operation, v: unknown): RequestedState {
  const requested = requestedStateOf(v);
  const decision = resolveFinalState(op, requested);
  if (!decision.ok) throw invalidArgument(decision.reason);
  return requested;
}

/** A checkpoint id (required): see validateCheckpointId for the rules. */
export function checkpointIdOf(v: unknown, field = 'checkpoint_id'): string {
  if (v === undefined || v === null) return validateCheckpointId('', field);
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string, got ${typeof v}`);
  return validateCheckpointId(v, field);
}

/** An optional checkpoint id: '' when unset. */
function optionalCheckpointIdOf(v: unknown, field: string): string {
  return v === undefined || v === null || v === '' ? '' : checkpointIdOf(v, field);
}

/** Dump and PreDump requests: the same fields, the same rules (the final state aside). */
export function dumpParamsOf(req: unknown, op: Extract<Operation, 'dump' | 'pre-dump'>): DumpParams {
  const r = fields(req);
  const pid = pidOf(r.pid);
  const checkpointId = checkpointIdOf(r.checkpoint_id);
  const parentId = optionalCheckpointIdOf(r.parent_checkpoint_id, 'parent_checkpoint_id');
  if (parentId === checkpointId) {
    throw invalidArgument(
      `parent_checkpoint_id ${parentId} is the checkpoint this request makes; name an earlier PreDump checkpoint of the tree, or leave it empty for a full dump`,
    );
  }
  const requested = finalStateFor(op, r.final_state);
  return { pid, checkpointId, requested, parentId, options: validateDumpOptions(r.options) };
}

export function restoreParamsOf(req: unknown): RestoreParams & { imageReference: string } {
  const r = fields(req);
  const imageReference = optionalReferenceOf(r.image_reference, 'image_reference');
  // With an image reference the id is optional: where to pull to.
  const checkpointId = imageReference ? optionalCheckpointIdOf(r.checkpoint_id, 'checkpoint_id') : checkpointIdOf(r.checkpoint_id);
  const requested = finalStateFor('restore', r.final_state);
  return { checkpointId, requested, options: validateRestoreOptions(r.options), imageReference };
}

/** An optional image reference (PullCheckpoint's and Restore's): '' when unset, else checked by parseReference. */
function optionalReferenceOf(v: unknown, field: string): string {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string, got ${typeof v}`);
  parseReference(v, field);
  return v;
}

/** PushCheckpoint: a checkpoint id and a reference with a tag. */
export function pushParamsOf(req: unknown): { checkpointId: string; reference: string } {
  const r = fields(req);
  const checkpointId = checkpointIdOf(r.checkpoint_id);
  if (typeof r.reference !== 'string') throw invalidArgument('reference must be a string, e.g. "registry.example:5000/team/web:ckpt-42"');
  parseReference(r.reference);
  return { checkpointId, reference: r.reference };
}

/** PullCheckpoint: a reference (tag or digest) and an optional local id. */
export function pullParamsOf(req: unknown): { reference: string; checkpointId: string } {
  const r = fields(req);
  const reference = optionalReferenceOf(r.reference, 'reference');
  if (!reference) parseReference('');
  return { reference, checkpointId: optionalCheckpointIdOf(r.checkpoint_id, 'checkpoint_id') };
}

export function continuePidOf(req: unknown): number {
  return pidOf(fields(req).pid);
}

/** GetCheckpoint's and DeleteCheckpoint's id. */
export function checkpointRefOf(req: unknown): string {
  return checkpointIdOf(fields(req).checkpoint_id);
}

export function cascadeOf(req: unknown): boolean {
  const v = fields(req).cascade;
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalidArgument(`cascade must be true or false, got ${typeof v}`);
  return v;
}

/** ExportCheckpoint's request. */
export function exportParamsOf(req: unknown): { checkpointId: string; includeParents: boolean } {
  const r = fields(req);
  const v = r.include_parents;
  if (v !== undefined && v !== null && typeof v !== 'boolean') throw invalidArgument(`include_parents must be true or false, got ${typeof v}`);
  return { checkpointId: checkpointIdOf(r.checkpoint_id), includeParents: v === true };
}

/** One CheckpointChunk of an ImportCheckpoint stream as a stream item (see chunkFromWire). */
export const transferItemOf = chunkFromWire;

const MIGRATE_MODES: Record<string, MigrateParams['mode']> = {
  MIGRATE_MODE_UNSPECIFIED: 'UNSPECIFIED',
  MIGRATE_MODE_STOP_AND_COPY: 'STOP_AND_COPY',
  MIGRATE_MODE_PRE_COPY: 'PRE_COPY',
  MIGRATE_MODE_POST_COPY: 'POST_COPY',
};

/** Migrate's request. */
export function migrateParamsOf(req: unknown): MigrateParams {
  const r = fields(req);
  const destination = r.destination;
  if (typeof destination !== 'string' || destination === '') throw invalidArgument('destination is required: the destination agent, host:port or unix:/path');
  const checkpointId = r.checkpoint_id === undefined || r.checkpoint_id === '' ? '' : checkpointIdOf(r.checkpoint_id);
  const modeName = r.mode ?? 'MIGRATE_MODE_UNSPECIFIED';
  const mode = typeof modeName === 'string' && Object.prototype.hasOwnProperty.call(MIGRATE_MODES, modeName) ? MIGRATE_MODES[modeName] : undefined;
  if (!mode) throw invalidArgument(`mode ${JSON.stringify(modeName)} is not one of ${Object.keys(MIGRATE_MODES).join(', ')}`);
  const rounds = r.max_pre_dump_rounds ?? 0;
  if (typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 0 || rounds > 100) throw invalidArgument('max_pre_dump_rounds must be 0 to 100');
  return {
    pid: pidOf(r.pid),
    destination,
    checkpointId,
    mode,
    maxPreDumpRounds: rounds,
    requested: requestedStateOf(r.final_state),
    options: validateDumpOptions(r.options),
    restoreOptions: validateRestoreOptions(r.restore_options),
  };
}
