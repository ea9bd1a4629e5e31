import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { dump_stats_entry as _criu_dump_stats_entry, dump_stats_entry__Output as _criu_dump_stats_entry__Output } from './criu/dump_stats_entry';
import type { restore_stats_entry as _criu_restore_stats_entry, restore_stats_entry__Output as _criu_restore_stats_entry__Output } from './criu/restore_stats_entry';
import type { stats_entry as _criu_stats_entry, stats_entry__Output as _criu_stats_entry__Output } from './criu/stats_entry';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  criu: {
    dump_stats_entry: MessageTypeDefinition<_criu_dump_stats_entry, _criu_dump_stats_entry__Output>
    restore_stats_entry: MessageTypeDefinition<_criu_restore_stats_entry, _criu_restore_stats_entry__Output>
    stats_entry: MessageTypeDefinition<_criu_stats_entry, _criu_stats_entry__Output>
  }
}

