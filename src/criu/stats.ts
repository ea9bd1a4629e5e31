/**
 * CRIU's statistics images. After a dump or pre-dump CRIU writes "stats-dump",
 * after a restore "stats-restore", into its work directory (which the agent
 * leaves at the images directory). Each is a CRIU image: IMG_SERVICE_MAGIC,
 * STATS_MAGIC, then exactly one entry, a 4-byte little-endian length and a
 * stats_entry (proto/criu/stats.proto).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type * as protobuf from 'protobufjs';
import { AgentError, errorMessage } from '../errors';
import type { stats_entry__Output } from '../generated/criu/stats_entry';
import { conversionOptions, loadCriuRoot } from '../proto';

/** Times are in microseconds; pages are CRIU's (the kernel's) pages. */
export interface DumpStats {
  freezingTimeUs: number;
  frozenTimeUs: number;
  memdumpTimeUs: number;
  memwriteTimeUs: number;
  pagesScanned: number;
  pagesSkippedParent: number;
  pagesWritten: number;
  pagesLazy: number;
}

/** Times are in microseconds. */
export interface RestoreStats {
  pagesCompared: number;
  pagesSkippedCow: number;
  forkingTimeUs: number;
  restoreTimeUs: number;
  /** 0 when CRIU did not report it (the field is optional in CRIU's schema). */
  pagesRestored: number;
}

/** Name of the image CRIU writes after dump and pre-dump. */
export const DUMP_STATS_FILE = 'stats-dump';
/** Name of the image CRIU writes after restore. */
export const RESTORE_STATS_FILE = 'stats-restore';

// criu/include/magic.h: the generic magic of images that are not per-task
// ("service" images), followed by the image's own magic.
const IMG_SERVICE_MAGIC = 0x55105940;
const STATS_MAGIC = 0x57093306;
const HEADER_BYTES = 12;
// A real stats image is about 50 bytes; anything this large is not one, and
// is refused before it is read into memory.
const MAX_IMAGE_BYTES = 64 * 1024;

let statsEntryType: protobuf.Type | undefined;

function entryType(): protobuf.Type {
  statsEntryType ??= loadCriuRoot().lookupType('criu.stats_entry');
  return statsEntryType;
}

/**
 * CRIU's dump statistics from `<imagesDir>/stats-dump`.
 * @returns undefined when the file is absent (older CRIU, or a failed run).
 * @throws AgentError('data-loss') when the file is not a well-formed stats image
 *   holding dump statistics.
 */
export async function readDumpStats(imagesDir: string): Promise<DumpStats | undefined> {
  const file = path.join(imagesDir, DUMP_STATS_FILE);
  const entry = await readStatsEntry(file);
  if (entry === undefined) return undefined;
  const d = entry.dump;
  if (!d) throw malformed(file, 'it holds no dump statistics');
  return {
    freezingTimeUs: d.freezing_time,
    frozenTimeUs: d.frozen_time,
    memdumpTimeUs: d.memdump_time,
    memwriteTimeUs: d.memwrite_time,
    pagesScanned: toCount(file, 'pages_scanned', d.pages_scanned),
    pagesSkippedParent: toCount(file, 'pages_skipped_parent', d.pages_skipped_parent),
    pagesWritten: toCount(file, 'pages_written', d.pages_written),
    pagesLazy: toCount(file, 'pages_lazy', d.pages_lazy),
  };
}

/**
 * CRIU's restore statistics from `<dir>/stats-restore`, dir being the work
 * directory of the restore (the images directory unless one was given).
 * @returns undefined when the file is absent (older CRIU, or a failed run).
 * @throws AgentError('data-loss') when the file is not a well-formed stats image
 *   holding restore statistics.
 */
export async function readRestoreStats(dir: string): Promise<RestoreStats | undefined> {
  const file = path.join(dir, RESTORE_STATS_FILE);
  const entry = await readStatsEntry(file);
  if (entry === undefined) return undefined;
  const r = entry.restore;
  if (!r) throw malformed(file, 'it holds no restore statistics');
  return {
    pagesCompared: toCount(file, 'pages_compared', r.pages_compared),
    pagesSkippedCow: toCount(file, 'pages_skipped_cow', r.pages_skipped_cow),
    forkingTimeUs: r.forking_time,
    restoreTimeUs: r.restore_time,
    pagesRestored: toCount(file, 'pages_restored', r.pages_restored),
  };
}

async function readStatsEntry(file: string): Promise<stats_entry__Output | undefined> {
  let buf: Buffer;
  try {
    const fh = await fsp.open(file, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_IMAGE_BYTES) throw malformed(file, `it is ${size} bytes long, far more than a stats image`);
      buf = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof AgentError) throw err;
    throw new AgentError('data-loss', `cannot read CRIU statistics ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return decodeStatsImage(file, buf);
}

function decodeStatsImage(file: string, buf: Buffer): stats_entry__Output {
  if (buf.length < HEADER_BYTES) throw malformed(file, `it is only ${buf.length} bytes long`);
  const service = buf.readUInt32LE(0);
  if (service !== IMG_SERVICE_MAGIC) {
    throw malformed(file, `it starts with ${hex(service)}, not CRIU's IMG_SERVICE_MAGIC ${hex(IMG_SERVICE_MAGIC)}`);
  }
  const magic = buf.readUInt32LE(4);
  if (magic !== STATS_MAGIC) {
    throw malformed(file, `its image magic is ${hex(magic)}, not STATS_MAGIC ${hex(STATS_MAGIC)}`);
  }
  const length = buf.readUInt32LE(8);
  const rest = buf.length - HEADER_BYTES;
  if (length !== rest) {
    throw malformed(file, `its entry claims ${length} bytes but ${rest} follow the header (truncated, or more than one entry)`);
  }
  const type = entryType();
  try {
    return type.toObject(type.decode(buf.subarray(HEADER_BYTES)), conversionOptions) as stats_entry__Output;
  } catch (err) {
    throw malformed(file, `its stats_entry does not decode: ${errorMessage(err)}`, err);
  }
}

// uint64 fields come as decimal strings (longs: String); page counts never
// get near 2^53, so a larger value means a corrupt file, not a big dump.
function toCount(file: string, field: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw malformed(file, `${field} is ${value}`);
  return n;
}

function malformed(file: string, why: string, cause?: unknown): AgentError {
  return new AgentError('data-loss', `${file} is not a valid CRIU statistics image: ${why}`, { cause });
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
