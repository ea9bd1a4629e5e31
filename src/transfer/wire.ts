/**
 * Checkpoint manifests between the store's records and the API's messages,
 * both ways: the handlers describe checkpoints with it, and checkpoint streams
 * (ExportCheckpoint, ImportCheckpoint, Migrate) carry manifests with it.
 */
import type { DumpStats } from '../criu/stats';
import { AgentError } from '../errors';
import type { FinalState } from '../finalState';
import type { Checkpoint, Checkpoint__Output } from '../generated/criu_agent/v1/Checkpoint';
import type { CheckpointChunk, CheckpointChunk__Output } from '../generated/criu_agent/v1/CheckpointChunk';
import type { CheckpointManifest, CheckpointManifest__Output } from '../generated/criu_agent/v1/CheckpointManifest';
import type { TransferItem } from './stream';
import type { DumpStats as WireDumpStats, DumpStats__Output } from '../generated/criu_agent/v1/DumpStats';
import type { FinalState__Output } from '../generated/criu_agent/v1/FinalState';
import type { CheckpointRecord } from '../store';
import { DIGEST_ALGORITHM } from '../store/digest';

export const WIRE_FINAL_STATE: Record<FinalState, FinalState__Output> = {
  RUNNING: 'FINAL_STATE_RUNNING',
  STOPPED: 'FINAL_STATE_STOPPED',
  DEAD: 'FINAL_STATE_DEAD',
};

export function dumpStatsToWire(s: DumpStats | undefined): WireDumpStats | null {
  if (!s) return null;
  return {
    freezing_time_us: s.freezingTimeUs,
    frozen_time_us: s.frozenTimeUs,
    memdump_time_us: s.memdumpTimeUs,
    memwrite_time_us: s.memwriteTimeUs,
    pages_scanned: s.pagesScanned,
    pages_skipped_parent: s.pagesSkippedParent,
    pages_written: s.pagesWritten,
    pages_lazy: s.pagesLazy,
  };
}

function dumpStatsFromWire(s: DumpStats__Output | null | undefined): DumpStats | undefined {
  if (!s) return undefined;
  return {
    freezingTimeUs: Number(s.freezing_time_us),
    frozenTimeUs: Number(s.frozen_time_us),
    memdumpTimeUs: Number(s.memdump_time_us),
    memwriteTimeUs: Number(s.memwrite_time_us),
    pagesScanned: Number(s.pages_scanned),
    pagesSkippedParent: Number(s.pages_skipped_parent),
    pagesWritten: Number(s.pages_written),
    pagesLazy: Number(s.pages_lazy),
  };
}

/** A record as the API's Checkpoint; `imagesDir` and `children` are what this node derives. */
export function checkpointToWire(c: CheckpointRecord, imagesDir: string, children: string[]): Checkpoint {
  return {
    checkpoint_id: c.id,
    kind: c.kind === 'dump' ? 'CHECKPOINT_KIND_DUMP' : 'CHECKPOINT_KIND_PRE_DUMP',
    parent_checkpoint_id: c.parentId ?? '',
    pid: c.pid,
    pids: c.pids,
    command_line: c.commandLine,
    created_at: c.createdAt,
    criu_version: c.criuVersion,
    kernel: c.kernel,
    final_state: WIRE_FINAL_STATE[c.finalState],
    size_bytes: c.sizeBytes,
    file_count: c.fileCount,
    stats: dumpStatsToWire(c.stats),
    images_dir: imagesDir,
    children,
    digest_algorithm: c.digestAlgorithm,
    request_id: c.requestId ?? '',
  };
}

/** The manifest chunk of a checkpoint stream. */
export function manifestToWire(c: CheckpointRecord): CheckpointManifest {
  return {
    checkpoint: checkpointToWire(c, '', []),
    files: c.files.map((f) => ({ path: f.path, size: f.size, xxh64: f.xxh64 ?? '', symlink: f.symlink ?? '' })),
  };
}

const FINAL_STATES: Record<string, FinalState> = {
  FINAL_STATE_RUNNING: 'RUNNING',
  FINAL_STATE_STOPPED: 'STOPPED',
  FINAL_STATE_DEAD: 'DEAD',
};

/**
 * A received manifest as the record the importing store will keep. Only the
 * shape is checked here (INVALID_ARGUMENT); the ids, paths and digests are
 * the writer's to check. CRIU's dump log is not part of a checkpoint's files
 * and does not travel: the record names none.
 */
export function manifestFromWire(m: CheckpointManifest__Output): CheckpointRecord {
  const c: Checkpoint__Output | null = m.checkpoint;
  if (!c) throw new AgentError('invalid-argument', 'a manifest chunk has no checkpoint');
  const kind = c.kind === 'CHECKPOINT_KIND_DUMP' ? 'dump' : c.kind === 'CHECKPOINT_KIND_PRE_DUMP' ? 'pre-dump' : undefined;
  if (!kind) throw new AgentError('invalid-argument', `checkpoint ${c.checkpoint_id}: kind must be CHECKPOINT_KIND_DUMP or CHECKPOINT_KIND_PRE_DUMP`);
  const finalState = FINAL_STATES[c.final_state];
  if (!finalState) throw new AgentError('invalid-argument', `checkpoint ${c.checkpoint_id}: final_state ${c.final_state} is not a final state`);
  if (c.digest_algorithm !== DIGEST_ALGORITHM) {
    throw new AgentError(
      'invalid-argument',
      `checkpoint ${c.checkpoint_id}: digest_algorithm ${JSON.stringify(c.digest_algorithm)} is not the one this agent verifies (${DIGEST_ALGORITHM})`,
    );
  }
  const files = m.files.map((f) => ({
    path: f.path,
    size: Number(f.size),
    ...(f.symlink ? { symlink: f.symlink } : { xxh64: f.xxh64 }),
  }));
  return {
    id: c.checkpoint_id,
    kind,
    ...(c.parent_checkpoint_id ? { parentId: c.parent_checkpoint_id } : {}),
    pid: c.pid,
    pids: c.pids,
    commandLine: c.command_line,
    createdAt: c.created_at,
    criuVersion: c.criu_version,
    kernel: c.kernel,
    finalState,
    logFile: '',
    sizeBytes: files.reduce((n, f) => n + f.size, 0),
    fileCount: files.length,
    ...(c.stats ? { stats: dumpStatsFromWire(c.stats) } : {}),
    // The request that made the checkpoint (on the node that dumped it) travels with it.
    ...(c.request_id ? { requestId: c.request_id } : {}),
    digestAlgorithm: DIGEST_ALGORITHM,
    files,
  };
}

/** A stream item as the API's CheckpointChunk. */
export function chunkToWire(item: TransferItem): CheckpointChunk {
  return item.kind === 'manifest' ? { manifest: manifestToWire(item.record) } : { data: { path: item.path, offset: item.offset, data: item.bytes } };
}

/**
 * A received CheckpointChunk as a stream item: exactly one of manifest and
 * data, the manifest's shape checked (INVALID_ARGUMENT); its ids, paths and
 * digests are the writer's to check, for every source of streams alike.
 */
export function chunkFromWire(chunk: CheckpointChunk__Output): TransferItem {
  if (chunk.manifest) return { kind: 'manifest', record: manifestFromWire(chunk.manifest) };
  if (chunk.data) {
    const offset = Number(chunk.data.offset);
    if (!Number.isSafeInteger(offset)) throw new AgentError('invalid-argument', `data chunk of ${chunk.data.path}: offset ${chunk.data.offset} is out of range`);
    return { kind: 'data', path: chunk.data.path, offset, bytes: chunk.data.data };
  }
  throw new AgentError('invalid-argument', 'a CheckpointChunk must carry a manifest or data');
}
