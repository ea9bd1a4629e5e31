// Original file: proto/criu_agent/v1/agent.proto

import type { CgroupMode as _criu_agent_v1_CgroupMode, CgroupMode__Output as _criu_agent_v1_CgroupMode__Output } from '../../criu_agent/v1/CgroupMode';
import type { NetworkLock as _criu_agent_v1_NetworkLock, NetworkLock__Output as _criu_agent_v1_NetworkLock__Output } from '../../criu_agent/v1/NetworkLock';

/**
 * CRIU options for Restore. Each maps to the CRIU option of the same name;
 * most must match what the Dump used.
 */
export interface RestoreOptions {
  /**
   * See DumpOptions.shell_job: restore into the agent's session instead of a
   * new one.
   */
  'shell_job'?: (boolean);
  'tcp_established'?: (boolean);
  'ext_unix_sk'?: (boolean);
  'file_locks'?: (boolean);
  /**
   * Restore files that Dump linked back with link_remap.
   */
  'link_remap'?: (boolean);
  'tcp_close'?: (boolean);
  /**
   * External resources, as CRIU's --external takes them at restore, e.g.
   * "mnt[data]:/data", "veth[eth0]:vethhost".
   */
  'external'?: (string)[];
  'skip_mnt'?: (string)[];
  'enable_fs'?: (string)[];
  'auto_ext_mnt'?: (boolean);
  'ext_sharing'?: (boolean);
  'ext_masters'?: (boolean);
  'evasive_devices'?: (boolean);
  'manage_cgroups_mode'?: (_criu_agent_v1_CgroupMode);
  'network_lock'?: (_criu_agent_v1_NetworkLock);
  /**
   * Do not fail when a sysctl of the saved namespaces cannot be set
   * (CRIU's --weak-sysctls).
   */
  'weak_sysctls'?: (boolean);
}

/**
 * CRIU options for Restore. Each maps to the CRIU option of the same name;
 * most must match what the Dump used.
 */
export interface RestoreOptions__Output {
  /**
   * See DumpOptions.shell_job: restore into the agent's session instead of a
   * new one.
   */
  'shell_job': (boolean);
  'tcp_established': (boolean);
  'ext_unix_sk': (boolean);
  'file_locks': (boolean);
  /**
   * Restore files that Dump linked back with link_remap.
   */
  'link_remap': (boolean);
  'tcp_close': (boolean);
  /**
   * External resources, as CRIU's --external takes them at restore, e.g.
   * "mnt[data]:/data", "veth[eth0]:vethhost".
   */
  'external': (string)[];
  'skip_mnt': (string)[];
  'enable_fs': (string)[];
  'auto_ext_mnt': (boolean);
  'ext_sharing': (boolean);
  'ext_masters': (boolean);
  'evasive_devices': (boolean);
  'manage_cgroups_mode': (_criu_agent_v1_CgroupMode__Output);
  'network_lock': (_criu_agent_v1_NetworkLock__Output);
  /**
   * Do not fail when a sysctl of the saved namespaces cannot be set
   * (CRIU's --weak-sysctls).
   */
  'weak_sysctls': (boolean);
}
