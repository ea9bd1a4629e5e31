// Original file: proto/criu/rpc.proto


export interface criu_notify {
  'script'?: (string);
  'pid'?: (number);
}

export interface criu_notify__Output {
  'script': (string);
  'pid': (number);
}
