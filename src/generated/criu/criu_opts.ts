// Original file: proto/criu/rpc.proto

import type { criu_page_server_info as _criu_criu_page_server_info, criu_page_server_info__Output as _criu_criu_page_server_info__Output } from '../criu/criu_page_server_info';
import type { inherit_fd as _criu_inherit_fd, inherit_fd__Output as _criu_inherit_fd__Output } from '../criu/inherit_fd';
import type { criu_cg_mode as _criu_criu_cg_mode, criu_cg_mode__Output as _criu_criu_cg_mode__Output } from '../criu/criu_cg_mode';
import type { criu_network_lock_method as _criu_criu_network_lock_method, criu_network_lock_method__Output as _criu_criu_network_lock_method__Output } from '../criu/criu_network_lock_method';

export interface criu_opts {
  /**
   * CRIU opens /proc/<peer pid>/fd/<images_dir_fd>; the peer is the agent.
   */
  'images_dir_fd'?: (number);
  'pid'?: (number);
  'leave_running'?: (boolean);
  'ext_unix_sk'?: (boolean);
  'tcp_established'?: (boolean);
  'evasive_devices'?: (boolean);
  'shell_job'?: (boolean);
  'file_locks'?: (boolean);
  'log_level'?: (number);
  'log_file'?: (string);
  /**
   * A dump sends its pages to this page server instead of writing them.
   */
  'ps'?: (_criu_criu_page_server_info | null);
  'notify_scripts'?: (boolean);
  'parent_img'?: (string);
  'track_mem'?: (boolean);
  'auto_dedup'?: (boolean);
  'work_dir_fd'?: (number);
  'link_remap'?: (boolean);
  'force_irmap'?: (boolean);
  'rst_sibling'?: (boolean);
  'inherit_fd'?: (_criu_inherit_fd)[];
  'auto_ext_mnt'?: (boolean);
  'ext_sharing'?: (boolean);
  'ext_masters'?: (boolean);
  'skip_mnt'?: (string)[];
  'enable_fs'?: (string)[];
  'manage_cgroups_mode'?: (_criu_criu_cg_mode);
  'ghost_limit'?: (number);
  'external'?: (string)[];
  'timeout'?: (number);
  'tcp_skip_in_flight'?: (boolean);
  'weak_sysctls'?: (boolean);
  'tcp_close'?: (boolean);
  'network_lock'?: (_criu_criu_network_lock_method);
  'leave_stopped'?: (boolean);
  'display_stats'?: (boolean);
}

export interface criu_opts__Output {
  /**
   * CRIU opens /proc/<peer pid>/fd/<images_dir_fd>; the peer is the agent.
   */
  'images_dir_fd': (number);
  'pid': (number);
  'leave_running': (boolean);
  'ext_unix_sk': (boolean);
  'tcp_established': (boolean);
  'evasive_devices': (boolean);
  'shell_job': (boolean);
  'file_locks': (boolean);
  'log_level': (number);
  'log_file': (string);
  /**
   * A dump sends its pages to this page server instead of writing them.
   */
  'ps': (_criu_criu_page_server_info__Output | null);
  'notify_scripts': (boolean);
  'parent_img': (string);
  'track_mem': (boolean);
  'auto_dedup': (boolean);
  'work_dir_fd': (number);
  'link_remap': (boolean);
  'force_irmap': (boolean);
  'rst_sibling': (boolean);
  'inherit_fd': (_criu_inherit_fd__Output)[];
  'auto_ext_mnt': (boolean);
  'ext_sharing': (boolean);
  'ext_masters': (boolean);
  'skip_mnt': (string)[];
  'enable_fs': (string)[];
  'manage_cgroups_mode': (_criu_criu_cg_mode__Output);
  'ghost_limit': (number);
  'external': (string)[];
  'timeout': (number);
  'tcp_skip_in_flight': (boolean);
  'weak_sysctls': (boolean);
  'tcp_close': (boolean);
  'network_lock': (_criu_criu_network_lock_method__Output);
  'leave_stopped': (boolean);
  'display_stats': (boolean);
}
