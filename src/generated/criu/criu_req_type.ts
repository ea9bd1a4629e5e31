// Original file: proto/criu/rpc.proto

export const criu_req_type = {
  EMPTY: 'EMPTY',
  DUMP: 'DUMP',
  RESTORE: 'RESTORE',
  CHECK: 'CHECK',
  PRE_DUMP: 'PRE_DUMP',
  PAGE_SERVER: 'PAGE_SERVER',
  NOTIFY: 'NOTIFY',
  CPUINFO_DUMP: 'CPUINFO_DUMP',
  CPUINFO_CHECK: 'CPUINFO_CHECK',
  FEATURE_CHECK: 'FEATURE_CHECK',
  VERSION: 'VERSION',
  WAIT_PID: 'WAIT_PID',
  PAGE_SERVER_CHLD: 'PAGE_SERVER_CHLD',
  SINGLE_PRE_DUMP: 'SINGLE_PRE_DUMP',
} as const;

export type criu_req_type =
  | 'EMPTY'
  | 0
  | 'DUMP'
  | 1
  | 'RESTORE'
  | 2
  | 'CHECK'
  | 3
  | 'PRE_DUMP'
  | 4
  | 'PAGE_SERVER'
  | 5
  | 'NOTIFY'
  | 6
  | 'CPUINFO_DUMP'
  | 7
  | 'CPUINFO_CHECK'
  | 8
  | 'FEATURE_CHECK'
  | 9
  | 'VERSION'
  | 10
  | 'WAIT_PID'
  | 11
  | 'PAGE_SERVER_CHLD'
  | 12
  | 'SINGLE_PRE_DUMP'
  | 13

export type criu_req_type__Output = typeof criu_req_type[keyof typeof criu_req_type]
