// Original file: proto/criu/rpc.proto


export interface criu_version {
  'major_number'?: (number);
  'minor_number'?: (number);
  'gitid'?: (string);
  'sublevel'?: (number);
  'extra'?: (number);
  'name'?: (string);
}

export interface criu_version__Output {
  'major_number': (number);
  'minor_number': (number);
  'gitid': (string);
  'sublevel': (number);
  'extra': (number);
  'name': (string);
}
