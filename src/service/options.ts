import type { criu_opts } from '../generated/criu/criu_opts';
import type { CgroupMode__Output } from '../generated/criu_agent/v1/CgroupMode';
import type { DumpOptions__Output } from '../generated/criu_agent/v1/DumpOptions';
import type { NetworkLock__Output } from '../generated/criu_agent/v1/NetworkLock';
import type { RestoreOptions__Output } from '../generated/criu_agent/v1/RestoreOptions';

type CriuOpts = Omit<criu_opts, 'images_dir_fd' | 'log_file'>;

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

export function dumpCriuOpts(o: Partial<DumpOptions__Output>): CriuOpts {
  const out = common(o);
  if (o.tcp_skip_in_flight) out.tcp_skip_in_flight = true;
  if (o.force_irmap) out.force_irmap = true;
  if (o.auto_dedup) out.auto_dedup = true;
  if (o.ghost_limit) out.ghost_limit = o.ghost_limit;
  if (o.freeze_timeout_seconds) out.timeout = o.freeze_timeout_seconds;
  return out;
}

export function restoreCriuOpts(o: Partial<RestoreOptions__Output>): CriuOpts {
  const out = common(o);
  if (o.weak_sysctls) out.weak_sysctls = true;
  return out;
}
