// Original file: proto/criu/rpc.proto


export interface inherit_fd {
  'key'?: (string);
  'fd'?: (number);
}

export interface inherit_fd__Output {
  'key': (string);
  'fd': (number);
}
