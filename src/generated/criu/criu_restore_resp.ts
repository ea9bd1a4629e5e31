// Original file: proto/criu/rpc.proto


export interface criu_restore_resp {
  'pid'?: (number);
}

export interface criu_restore_resp__Output {
  'pid': (number);
}
