// Original file: proto/criu/rpc.proto


export interface criu_dump_resp {
  'restored'?: (boolean);
}

export interface criu_dump_resp__Output {
  'restored': (boolean);
}
