import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { criu_dump_resp as _criu_criu_dump_resp, criu_dump_resp__Output as _criu_criu_dump_resp__Output } from './criu/criu_dump_resp';
import type { criu_features as _criu_criu_features, criu_features__Output as _criu_criu_features__Output } from './criu/criu_features';
import type { criu_notify as _criu_criu_notify, criu_notify__Output as _criu_criu_notify__Output } from './criu/criu_notify';
import type { criu_opts as _criu_criu_opts, criu_opts__Output as _criu_criu_opts__Output } from './criu/criu_opts';
import type { criu_page_server_info as _criu_criu_page_server_info, criu_page_server_info__Output as _criu_criu_page_server_info__Output } from './criu/criu_page_server_info';
import type { criu_req as _criu_criu_req, criu_req__Output as _criu_criu_req__Output } from './criu/criu_req';
import type { criu_resp as _criu_criu_resp, criu_resp__Output as _criu_criu_resp__Output } from './criu/criu_resp';
import type { criu_restore_resp as _criu_criu_restore_resp, criu_restore_resp__Output as _criu_criu_restore_resp__Output } from './criu/criu_restore_resp';
import type { criu_version as _criu_criu_version, criu_version__Output as _criu_criu_version__Output } from './criu/criu_version';
import type { inherit_fd as _criu_inherit_fd, inherit_fd__Output as _criu_inherit_fd__Output } from './criu/inherit_fd';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  criu: {
    criu_cg_mode: EnumTypeDefinition
    criu_dump_resp: MessageTypeDefinition<_criu_criu_dump_resp, _criu_criu_dump_resp__Output>
    criu_features: MessageTypeDefinition<_criu_criu_features, _criu_criu_features__Output>
    criu_network_lock_method: EnumTypeDefinition
    criu_notify: MessageTypeDefinition<_criu_criu_notify, _criu_criu_notify__Output>
    criu_opts: MessageTypeDefinition<_criu_criu_opts, _criu_criu_opts__Output>
    criu_page_server_info: MessageTypeDefinition<_criu_criu_page_server_info, _criu_criu_page_server_info__Output>
    criu_req: MessageTypeDefinition<_criu_criu_req, _criu_criu_req__Output>
    criu_req_type: EnumTypeDefinition
    criu_resp: MessageTypeDefinition<_criu_criu_resp, _criu_criu_resp__Output>
    criu_restore_resp: MessageTypeDefinition<_criu_criu_restore_resp, _criu_criu_restore_resp__Output>
    criu_version: MessageTypeDefinition<_criu_criu_version, _criu_criu_version__Output>
    inherit_fd: MessageTypeDefinition<_criu_inherit_fd, _criu_inherit_fd__Output>
  }
}

