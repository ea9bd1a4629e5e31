// Original file: proto/criu/rpc.proto

import type { criu_req_type as _criu_criu_req_type, criu_req_type__Output as _criu_criu_req_type__Output } from '../criu/criu_req_type';
import type { criu_opts as _criu_criu_opts, criu_opts__Output as _criu_criu_opts__Output } from '../criu/criu_opts';
import type { criu_features as _criu_criu_features, criu_features__Output as _criu_criu_features__Output } from '../criu/criu_features';

export interface criu_req {
  'type'?: (_criu_criu_req_type);
  'opts'?: (_criu_criu_opts | null);
  'notify_success'?: (boolean);
  'keep_open'?: (boolean);
  'features'?: (_criu_criu_features | null);
  'pid'?: (number);
}

export interface criu_req__Output {
  'type': (_criu_criu_req_type__Output);
  'opts': (_criu_criu_opts__Output | null);
  'notify_success': (boolean);
  'keep_open': (boolean);
  'features': (_criu_criu_features__Output | null);
  'pid': (number);
}
