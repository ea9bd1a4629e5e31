import type { criu_opts } from '../generated/criu/criu_opts';
import type { CgroupMode__Output } from '../generated/criu_agent/v1/CgroupMode';
import type { DumpOptions__Output } from '../generated/criu_agent/v1/DumpOptions';
import type { NetworkLock__Output } from '../generated/criu_agent/v1/NetworkLock';
import type { RestoreOptions__Output } from '../generated/criu_agent/v1/RestoreOptions';
import { invalidArgument } from '../errors';

type CriuOpts = Omit<criu_opts, 'images_dir_fd' | 'log_file'>;

/** At most this many entries in each of external, skip_mnt and enable_fs. */
export const MAX_OPTION_ENTRIES = 256;
/** At most this many bytes (UTF-8) in one entry of those lists: Linux's PATH_MAX. */
export const MAX_OPTION_ENTRY_BYTES = 4096;
/** The longest freeze_timeout_seconds accepted: an hour (CRIU's default is 10 s). */
export const MAX_FREEZE_TIMEOUT_SECONDS = 3600;

const UINT32_MAX = 0xffff_ffff;

const CGROUP_MODES: Partial<Record<CgroupMode__Output, criu_opts['manage_cgroups_mode']>> = {
  CGROUP_MODE_IGNORE: 'IGNORE',
  CGROUP_MODE_PROPS: 'PROPS',
  CGROUP_MODE_SOFT: 'SOFT',
  CGROUP_MODE_FULL: 'FULL',
  CGROUP_MODE_STRICT: 'STRICT',
};

const NETWORK_LOCKS: Partial<Record<NetworkLock__Output, criu_opts['network_lock']>> = {
  NETWORK_LOCK_IPTABLES: 'IPTABLES',
  NETWORK_LOCK_NFTABLES: 'NFTABLES',
  NETWORK_LOCK_SKIP: 'SKIP',
};

/** Enum names in wire-number order (index = number). */
const CGROUP_MODE_NAMES: readonly CgroupMode__Output[] = [
  'CGROUP_MODE_UNSPECIFIED',
  'CGROUP_MODE_IGNORE',
  'CGROUP_MODE_PROPS',
  'CGROUP_MODE_SOFT',
  'CGROUP_MODE_FULL',
  'CGROUP_MODE_STRICT',
];
const NETWORK_LOCK_NAMES: readonly NetworkLock__Output[] = [
  'NETWORK_LOCK_UNSPECIFIED',
  'NETWORK_LOCK_IPTABLES',
  'NETWORK_LOCK_NFTABLES',
  'NETWORK_LOCK_SKIP',
];

const COMMON_FLAGS = [
  'shell_job',
  'tcp_established',
  'ext_unix_sk',
  'file_locks',
  'link_remap',
  'tcp_close',
  'auto_ext_mnt',
  'ext_sharing',
  'ext_masters',
  'evasive_devices',
] as const;
const DUMP_FLAGS = [...COMMON_FLAGS, 'tcp_skip_in_flight', 'force_irmap', 'auto_dedup'] as const;
const RESTORE_FLAGS = [...COMMON_FLAGS, 'weak_sysctls'] as const;
const LISTS = ['external', 'skip_mnt', 'enable_fs'] as const;

type Flag = (typeof DUMP_FLAGS)[number] | (typeof RESTORE_FLAGS)[number];

/**
 * Checks Dump/PreDump options as they arrive (or as any other caller passes
 * them) and returns a copy holding only the options that are set, with enum
 * values by name. INVALID_ARGUMENT, naming the field and the rule, for an
 * unknown enum value, a list that is too long, an entry that is empty, too
 * long or holds a NUL byte (CRIU reads them as C strings and would silently
 * cut them there), an out-of-range number, or options that exclude each other.
 */
export function validateDumpOptions(o: unknown, field = 'options'): Partial<DumpOptions__Output> {
  const src = record(o, field);
  const out: Partial<DumpOptions__Output> = {};
  copyCommon(src, out, DUMP_FLAGS, field);
  const ghost = uint32(src.ghost_limit, `${field}.ghost_limit`);
  if (ghost) out.ghost_limit = ghost;
  const timeout = uint32(src.freeze_timeout_seconds, `${field}.freeze_timeout_seconds`);
  if (timeout > MAX_FREEZE_TIMEOUT_SECONDS) {
    throw invalidArgument(
      `${field}.freeze_timeout_seconds ${timeout} is too long: at most ${MAX_FREEZE_TIMEOUT_SECONDS} s (an hour) may be spent freezing a tree; ` +
        "0 keeps CRIU's default of 10 s",
    );
  }
  if (timeout) out.freeze_timeout_seconds = timeout;
  exclusive(out, field);
  return out;
}

/** validateDumpOptions for Restore's options. */
export function validateRestoreOptions(o: unknown, field = 'options'): Partial<RestoreOptions__Output> {
  const src = record(o, field);
  const out: Partial<RestoreOptions__Output> = {};
  copyCommon(src, out, RESTORE_FLAGS, field);
  exclusive(out, field);
  return out;
}

function record(o: unknown, field: string): Record<string, unknown> {
  if (o === undefined || o === null) return {};
  if (typeof o !== 'object' || Array.isArray(o)) throw invalidArgument(`${field} must be a message, got ${typeof o}`);
  return o as Record<string, unknown>;
}

type Out = Partial<DumpOptions__Output> & Partial<RestoreOptions__Output>;

function copyCommon(src: Record<string, unknown>, out: Out, flags: readonly Flag[], field: string): void {
  for (const f of flags) {
    const v = src[f];
    if (v === undefined || v === null || v === false) continue;
    if (v !== true) throw invalidArgument(`${field}.${f} must be true or false, got ${describe(v)}`);
    out[f] = true;
  }
  for (const l of LISTS) {
    const list = entries(src[l], `${field}.${l}`);
    if (list.length) out[l] = list;
  }
  const cg = enumName(src.manage_cgroups_mode, CGROUP_MODE_NAMES, `${field}.manage_cgroups_mode`);
  if (cg !== 'CGROUP_MODE_UNSPECIFIED') out.manage_cgroups_mode = cg;
  const nl = enumName(src.network_lock, NETWORK_LOCK_NAMES, `${field}.network_lock`);
  if (nl !== 'NETWORK_LOCK_UNSPECIFIED') out.network_lock = nl;
}

/** Options CRIU would accept together but of which one silently cancels the other. */
function exclusive(o: Out, field: string): void {
  if (o.tcp_established && o.tcp_close) {
    throw invalidArgument(
      `${field}.tcp_established and ${field}.tcp_close exclude each other: tcp_established saves (and restores) established TCP connections, ` +
        'tcp_close drops them; set only one',
    );
  }
  for (const f of ['ext_sharing', 'ext_masters'] as const) {
    // An external entry "mnt[]" (CRIU's --external mnt[]) turns auto-detection on as well.
    if (o[f] && !o.auto_ext_mnt && !o.external?.some((e) => e.startsWith('mnt[]'))) {
      throw invalidArgument(
        `${field}.${f} only applies to mounts found by ${field}.auto_ext_mnt: set auto_ext_mnt too, or leave ${f} unset`,
      );
    }
  }
}

function entries(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidArgument(`${field} must be a list of strings, got ${describe(v)}`);
  if (v.length > MAX_OPTION_ENTRIES) {
    throw invalidArgument(`${field} has ${v.length} entries; at most ${MAX_OPTION_ENTRIES} are allowed`);
  }
  return v.map((e: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof e !== 'string') throw invalidArgument(`${at} must be a string, got ${describe(e)}`);
    if (e === '') throw invalidArgument(`${at} is empty; remove it or name the resource`);
    const bytes = Buffer.byteLength(e, 'utf8');
    if (bytes > MAX_OPTION_ENTRY_BYTES) {
      throw invalidArgument(`${at} is ${bytes} bytes long; at most ${MAX_OPTION_ENTRY_BYTES} bytes are allowed`);
    }
    if (e.includes('\0')) throw invalidArgument(`${at} ${preview(e)} contains a NUL byte, which CRIU would cut the entry at`);
    if (/\p{Cs}/u.test(e)) throw invalidArgument(`${at} ${preview(e)} is not valid Unicode (a lone surrogate)`);
    return e;
  });
}

function enumName<T extends string>(v: unknown, names: readonly T[], field: string): T {
  if (v === undefined || v === null) return names[0] as T;
  // An enum number this agent does not know arrives as a bare number.
  const name = typeof v === 'number' ? names[v] : names.find((n) => n === v);
  if (name === undefined) throw invalidArgument(`${field} ${describe(v)} is not one of ${names.join(', ')}`);
  return name;
}

function uint32(v: unknown, field: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > UINT32_MAX) {
    throw invalidArgument(`${field} must be a whole number from 0 to ${UINT32_MAX}, got ${describe(v)}`);
  }
  return v;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return preview(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? 'a list' : typeof v;
}

/** A value quoted for a message: escaped, and cut at 64 characters. */
function preview(s: string): string {
  return s.length > 64 ? `${JSON.stringify(s.slice(0, 64))}...` : JSON.stringify(s);
}

/** Options both dump and restore take; unset ones are left out so CRIU applies its defaults. */
function common(o: Partial<DumpOptions__Output> | Partial<RestoreOptions__Output>): CriuOpts {
  const out: CriuOpts = {};
  if (o.shell_job) out.shell_job = true;
  if (o.tcp_established) out.tcp_established = true;
  if (o.ext_unix_sk) out.ext_unix_sk = true;
  if (o.file_locks) out.file_locks = true;
  if (o.link_remap) out.link_remap = true;
  if (o.tcp_close) out.tcp_close = true;
  if (o.auto_ext_mnt) out.auto_ext_mnt = true;
  if (o.ext_sharing) out.ext_sharing = true;
  if (o.ext_masters) out.ext_masters = true;
  if (o.evasive_devices) out.evasive_devices = true;
  if (o.external?.length) out.external = [...o.external];
  if (o.skip_mnt?.length) out.skip_mnt = [...o.skip_mnt];
  if (o.enable_fs?.length) out.enable_fs = [...o.enable_fs];
  const cg = o.manage_cgroups_mode && CGROUP_MODES[o.manage_cgroups_mode];
  if (cg) out.manage_cgroups_mode = cg;
  const nl = o.network_lock && NETWORK_LOCKS[o.network_lock];
  if (nl) out.network_lock = nl;
  return out;
}

/** CRIU's options for a dump; `o` has passed validateDumpOptions (the gRPC handlers check every request). */
export function dumpCriuOpts(o: Partial<DumpOptions__Output>): CriuOpts {
  const out = common(o);
  if (o.tcp_skip_in_flight) out.tcp_skip_in_flight = true;
  if (o.force_irmap) out.force_irmap = true;
  if (o.auto_dedup) out.auto_dedup = true;
  if (o.ghost_limit) out.ghost_limit = o.ghost_limit;
  if (o.freeze_timeout_seconds) out.timeout = o.freeze_timeout_seconds;
  return out;
}

/** CRIU's options for a restore; `o` has passed validateRestoreOptions. */
export function restoreCriuOpts(o: Partial<RestoreOptions__Output>): CriuOpts {
  const out = common(o);
  if (o.weak_sysctls) out.weak_sysctls = true;
  return out;
}
