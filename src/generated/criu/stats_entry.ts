// Original file: proto/criu/stats.proto

import type { dump_stats_entry as _criu_dump_stats_entry, dump_stats_entry__Output as _criu_dump_stats_entry__Output } from '../criu/dump_stats_entry';
import type { restore_stats_entry as _criu_restore_stats_entry, restore_stats_entry__Output as _criu_restore_stats_entry__Output } from '../criu/restore_stats_entry';

export interface stats_entry {
  'dump'?: (_criu_dump_stats_entry | null);
  'restore'?: (_criu_restore_stats_entry | null);
}

export interface stats_entry__Output {
  'dump': (_criu_dump_stats_entry__Output | null);
  'restore': (_criu_restore_stats_entry__Output | null);
}
