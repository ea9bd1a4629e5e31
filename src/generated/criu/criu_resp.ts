// Original file: proto/criu/rpc.proto

import type { criu_req_type as _criu_criu_req_type, criu_req_type__Output as _criu_criu_req_type__Output } from '../criu/criu_req_type';
import type { criu_dump_resp as _criu_criu_dump_resp, criu_dump_resp__Output as _criu_criu_dump_resp__Output } from '../criu/criu_dump_resp';
import type { criu_restore_resp as _criu_criu_restore_resp, criu_restore_resp__Output as _criu_criu_restore_resp__Output } from '../criu/criu_restore_resp';
import type { criu_notify as _criu_criu_notify, criu_notify__Output as _criu_criu_notify__Output } from '../criu/criu_notify';
import type { criu_page_server_info as _criu_criu_page_server_info, criu_page_server_info__Output as _criu_criu_page_server_info__Output } from '../criu/criu_page_server_info';
import type { criu_features as _criu_criu_features, criu_features__Output as _criu_criu_features__Output } from '../criu/criu_features';
import type { criu_version as _criu_criu_version, criu_version__Output as _criu_criu_version__Output } from '../criu/criu_version';

export interface criu_resp {
  'type'?: (_criu_criu_req_type);
  'success'?: (boolean);
  'dump'?: (_criu_criu_dump_resp | null);
  'restore'?: (_criu_criu_restore_resp | null);
  'notify'?: (_criu_criu_notify | null);
  'ps'?: (_criu_criu_page_server_info | null);
  'cr_errno'?: (number);
  'features'?: (_criu_criu_features | null);
  /**
   * The first "Error" line of CRIU's log: not a verdict (see success).
   */
  'cr_errmsg'?: (string);
  'version'?: (_criu_criu_version | null);
  'status'?: (number);
}

export interface criu_resp__Output {
  'type': (_criu_criu_req_type__Output);
  'success': (boolean);
  'dump': (_criu_criu_dump_resp__Output | null);
  'restore': (_criu_criu_restore_resp__Output | null);
  'notify': (_criu_criu_notify__Output | null);
  'ps': (_criu_criu_page_server_info__Output | null);
  'cr_errno': (number);
  'features': (_criu_criu_features__Output | null);
  /**
   * The first "Error" line of CRIU's log: not a verdict (see success).
   */
  'cr_errmsg': (string);
  'version': (_criu_criu_version__Output | null);
  'status': (number);
}
