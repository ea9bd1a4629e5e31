// Original file: proto/criu_agent/v1/agent.proto

import type { CgroupMode as _criu_agent_v1_CgroupMode, CgroupMode__Output as _criu_agent_v1_CgroupMode__Output } from '../../criu_agent/v1/CgroupMode';
import type { NetworkLock as _criu_agent_v1_NetworkLock, NetworkLock__Output as _criu_agent_v1_NetworkLock__Output } from '../../criu_agent/v1/NetworkLock';

/**
 * CRIU options for Dump and PreDump. Each maps to the CRIU option of the same
 * name; leave unset for CRIU's default.
 */
export interface DumpOptions {
  /**
   * The tree was started from a shell or another program without its own
   * session (not a session leader): CRIU's --shell-job. Needed for targets
   * started without setsid, and for trees with a controlling terminal.
   */
  'shell_job'?: (boolean);
  /**
   * Dump established TCP connections (CRIU's --tcp-established); restore
   * must set it too.
   */
  'tcp_established'?: (boolean);
  /**
   * Allow unix sockets whose peer is outside the tree (CRIU's --ext-unix-sk),
   * e.g. stdio connected to a socket of the program that started the tree.
   */
  'ext_unix_sk'?: (boolean);
  /**
   * Dump file locks (CRIU's --file-locks); restore must set it too.
   */
  'file_locks'?: (boolean);
  /**
   * Allow dumping files that were unlinked but are still open, by linking
   * them back (CRIU's --link-remap).
   */
  'link_remap'?: (boolean);
  /**
   * Skip TCP connections that are not fully established yet
   * (CRIU's --tcp-skip-in-flight).
   */
  'tcp_skip_in_flight'?: (boolean);
  /**
   * Close established TCP connections instead of dumping them
   * (CRIU's --tcp-close).
   */
  'tcp_close'?: (boolean);
  /**
   * Resources outside the tree, as CRIU's --external takes them, e.g.
   * "mnt[/data]:data", "unix[12345]", "tty[88:3]", "net[4026531840]:extnet".
   */
  'external'?: (string)[];
  /**
   * Mounts to skip (CRIU's --skip-mnt), by mount point.
   */
  'skip_mnt'?: (string)[];
  /**
   * Filesystems to dump although CRIU does not support them natively
   * (CRIU's --enable-fs), e.g. "fuse".
   */
  'enable_fs'?: (string)[];
  /**
   * Treat external bind mounts automatically (CRIU's --auto-ext-mnt).
   */
  'auto_ext_mnt'?: (boolean);
  /**
   * With auto_ext_mnt: external mounts may share peers/masters
   * (CRIU's --ext-sharing, --ext-masters).
   */
  'ext_sharing'?: (boolean);
  'ext_masters'?: (boolean);
  /**
   * Allow device files to be dumped by path (CRIU's --evasive-devices).
   */
  'evasive_devices'?: (boolean);
  /**
   * Largest deleted file CRIU copies into the checkpoint, in bytes
   * (CRIU's --ghost-limit); 0 keeps CRIU's default (1 MiB).
   */
  'ghost_limit'?: (number);
  /**
   * How many seconds CRIU may spend freezing the tree (CRIU's --timeout);
   * 0 keeps CRIU's default.
   */
  'freeze_timeout_seconds'?: (number);
  'manage_cgroups_mode'?: (_criu_agent_v1_CgroupMode);
  'network_lock'?: (_criu_agent_v1_NetworkLock);
  /**
   * Force resolving inotify/fanotify watches through the file system
   * (CRIU's --force-irmap).
   */
  'force_irmap'?: (boolean);
  /**
   * Deduplicate memory pages against the parent checkpoint
   * (CRIU's --auto-dedup).
   */
  'auto_dedup'?: (boolean);
}

/**
 * CRIU options for Dump and PreDump. Each maps to the CRIU option of the same
 * name; leave unset for CRIU's default.
 */
export interface DumpOptions__Output {
  /**
   * The tree was started from a shell or another program without its own
   * session (not a session leader): CRIU's --shell-job. Needed for targets
   * started without setsid, and for trees with a controlling terminal.
   */
  'shell_job': (boolean);
  /**
   * Dump established TCP connections (CRIU's --tcp-established); restore
   * must set it too.
   */
  'tcp_established': (boolean);
  /**
   * Allow unix sockets whose peer is outside the tree (CRIU's --ext-unix-sk),
   * e.g. stdio connected to a socket of the program that started the tree.
   */
  'ext_unix_sk': (boolean);
  /**
   * Dump file locks (CRIU's --file-locks); restore must set it too.
   */
  'file_locks': (boolean);
  /**
   * Allow dumping files that were unlinked but are still open, by linking
   * them back (CRIU's --link-remap).
   */
  'link_remap': (boolean);
  /**
   * Skip TCP connections that are not fully established yet
   * (CRIU's --tcp-skip-in-flight).
   */
  'tcp_skip_in_flight': (boolean);
  /**
   * Close established TCP connections instead of dumping them
   * (CRIU's --tcp-close).
   */
  'tcp_close': (boolean);
  /**
   * Resources outside the tree, as CRIU's --external takes them, e.g.
   * "mnt[/data]:data", "unix[12345]", "tty[88:3]", "net[4026531840]:extnet".
   */
  'external': (string)[];
  /**
   * Mounts to skip (CRIU's --skip-mnt), by mount point.
   */
  'skip_mnt': (string)[];
  /**
   * Filesystems to dump although CRIU does not support them natively
   * (CRIU's --enable-fs), e.g. "fuse".
   */
  'enable_fs': (string)[];
  /**
   * Treat external bind mounts automatically (CRIU's --auto-ext-mnt).
   */
  'auto_ext_mnt': (boolean);
  /**
   * With auto_ext_mnt: external mounts may share peers/masters
   * (CRIU's --ext-sharing, --ext-masters).
   */
  'ext_sharing': (boolean);
  'ext_masters': (boolean);
  /**
   * Allow device files to be dumped by path (CRIU's --evasive-devices).
   */
  'evasive_devices': (boolean);
  /**
   * Largest deleted file CRIU copies into the checkpoint, in bytes
   * (CRIU's --ghost-limit); 0 keeps CRIU's default (1 MiB).
   */
  'ghost_limit': (number);
  /**
   * How many seconds CRIU may spend freezing the tree (CRIU's --timeout);
   * 0 keeps CRIU's default.
   */
  'freeze_timeout_seconds': (number);
  'manage_cgroups_mode': (_criu_agent_v1_CgroupMode__Output);
  'network_lock': (_criu_agent_v1_NetworkLock__Output);
  /**
   * Force resolving inotify/fanotify watches through the file system
   * (CRIU's --force-irmap).
   */
  'force_irmap': (boolean);
  /**
   * Deduplicate memory pages against the parent checkpoint
   * (CRIU's --auto-dedup).
   */
  'auto_dedup': (boolean);
}
