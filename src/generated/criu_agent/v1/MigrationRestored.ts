// Original file: proto/criu_agent/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface MigrationRestored {
  'pid'?: (number);
  'pids'?: (number)[];
  'restore_time_us'?: (number | string | Long);
}

export interface MigrationRestored__Output {
  'pid': (number);
  'pids': (number)[];
  'restore_time_us': (string);
}
