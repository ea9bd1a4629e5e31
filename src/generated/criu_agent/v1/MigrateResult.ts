// Original file: proto/criu_agent/v1/agent.proto

import type { MigrateMode as _criu_agent_v1_MigrateMode, MigrateMode__Output as _criu_agent_v1_MigrateMode__Output } from '../../criu_agent/v1/MigrateMode';
import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { Long } from '@grpc/proto-loader';

export interface MigrateResult {
  'checkpoint_id'?: (string);
  /**
   * The mode used.
   */
  'mode'?: (_criu_agent_v1_MigrateMode);
  /**
   * Pid of the restored root on the destination (the original pid).
   */
  'destination_pid'?: (number);
  /**
   * Every restored process on the destination, root first.
   */
  'pids'?: (number)[];
  /**
   * The state the tree was left in on the destination.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  /**
   * Pre-dump rounds run (0 for stop-and-copy).
   */
  'rounds'?: (number);
  /**
   * From the moment the tree was frozen on the source to the moment it ran
   * (or was left stopped, as asked) on the destination.
   */
  'downtime_us'?: (number | string | Long);
  /**
   * What CRIU reports the tree stayed frozen during the final dump.
   */
  'frozen_time_us'?: (number | string | Long);
  /**
   * Bytes sent to the destination (pages and images), and the time the
   * images' transfer after the dump took.
   */
  'transfer_bytes'?: (number | string | Long);
  'transfer_time_us'?: (number | string | Long);
  /**
   * The destination's restore.
   */
  'restore_time_us'?: (number | string | Long);
}

export interface MigrateResult__Output {
  'checkpoint_id': (string);
  /**
   * The mode used.
   */
  'mode': (_criu_agent_v1_MigrateMode__Output);
  /**
   * Pid of the restored root on the destination (the original pid).
   */
  'destination_pid': (number);
  /**
   * Every restored process on the destination, root first.
   */
  'pids': (number)[];
  /**
   * The state the tree was left in on the destination.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  /**
   * Pre-dump rounds run (0 for stop-and-copy).
   */
  'rounds': (number);
  /**
   * From the moment the tree was frozen on the source to the moment it ran
   * (or was left stopped, as asked) on the destination.
   */
  'downtime_us': (string);
  /**
   * What CRIU reports the tree stayed frozen during the final dump.
   */
  'frozen_time_us': (string);
  /**
   * Bytes sent to the destination (pages and images), and the time the
   * images' transfer after the dump took.
   */
  'transfer_bytes': (string);
  'transfer_time_us': (string);
  /**
   * The destination's restore.
   */
  'restore_time_us': (string);
}
