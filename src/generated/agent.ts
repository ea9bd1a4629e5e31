import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CheckRequest as _criu_agent_v1_CheckRequest, CheckRequest__Output as _criu_agent_v1_CheckRequest__Output } from './criu_agent/v1/CheckRequest';
import type { CheckResponse as _criu_agent_v1_CheckResponse, CheckResponse__Output as _criu_agent_v1_CheckResponse__Output } from './criu_agent/v1/CheckResponse';
import type { CheckpointAgentClient as _criu_agent_v1_CheckpointAgentClient, CheckpointAgentDefinition as _criu_agent_v1_CheckpointAgentDefinition } from './criu_agent/v1/CheckpointAgent';
import type { ContinueRequest as _criu_agent_v1_ContinueRequest, ContinueRequest__Output as _criu_agent_v1_ContinueRequest__Output } from './criu_agent/v1/ContinueRequest';
import type { ContinueResponse as _criu_agent_v1_ContinueResponse, ContinueResponse__Output as _criu_agent_v1_ContinueResponse__Output } from './criu_agent/v1/ContinueResponse';
import type { DumpOptions as _criu_agent_v1_DumpOptions, DumpOptions__Output as _criu_agent_v1_DumpOptions__Output } from './criu_agent/v1/DumpOptions';
import type { DumpRequest as _criu_agent_v1_DumpRequest, DumpRequest__Output as _criu_agent_v1_DumpRequest__Output } from './criu_agent/v1/DumpRequest';
import type { DumpResponse as _criu_agent_v1_DumpResponse, DumpResponse__Output as _criu_agent_v1_DumpResponse__Output } from './criu_agent/v1/DumpResponse';
import type { PreDumpRequest as _criu_agent_v1_PreDumpRequest, PreDumpRequest__Output as _criu_agent_v1_PreDumpRequest__Output } from './criu_agent/v1/PreDumpRequest';
import type { PreDumpResponse as _criu_agent_v1_PreDumpResponse, PreDumpResponse__Output as _criu_agent_v1_PreDumpResponse__Output } from './criu_agent/v1/PreDumpResponse';
import type { RestoreOptions as _criu_agent_v1_RestoreOptions, RestoreOptions__Output as _criu_agent_v1_RestoreOptions__Output } from './criu_agent/v1/RestoreOptions';
import type { RestoreRequest as _criu_agent_v1_RestoreRequest, RestoreRequest__Output as _criu_agent_v1_RestoreRequest__Output } from './criu_agent/v1/RestoreRequest';
import type { RestoreResponse as _criu_agent_v1_RestoreResponse, RestoreResponse__Output as _criu_agent_v1_RestoreResponse__Output } from './criu_agent/v1/RestoreResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  criu_agent: {
    v1: {
      CgroupMode: EnumTypeDefinition
      CheckRequest: MessageTypeDefinition<_criu_agent_v1_CheckRequest, _criu_agent_v1_CheckRequest__Output>
      CheckResponse: MessageTypeDefinition<_criu_agent_v1_CheckResponse, _criu_agent_v1_CheckResponse__Output>
      /**
       * CheckpointAgent checkpoints (Dump, PreDump), restores (Restore) and resumes
       * (Continue) process trees on this node.
       * 
       * Errors are gRPC status codes with a message naming what to change:
       * INVALID_ARGUMENT for a malformed request, NOT_FOUND for a pid or checkpoint
       * that does not exist, ALREADY_EXISTS for a checkpoint id that is taken or a
       * pid that is still in use at restore, FAILED_PRECONDITION when the tree or
       * the kernel is not in a state that allows the operation, ABORTED when another
       * operation holds the same tree or checkpoint, CANCELLED/DEADLINE_EXCEEDED when
       * the call ended before CRIU did (the tree is left running), INTERNAL when
       * CRIU failed for another reason. When CRIU failed, the trailing metadata
       * carries `criu-errno` and `criu-log` (the path of CRIU's log on the node).
       */
      CheckpointAgent: SubtypeConstructor<typeof grpc.Client, _criu_agent_v1_CheckpointAgentClient> & { service: _criu_agent_v1_CheckpointAgentDefinition }
      ContinueRequest: MessageTypeDefinition<_criu_agent_v1_ContinueRequest, _criu_agent_v1_ContinueRequest__Output>
      ContinueResponse: MessageTypeDefinition<_criu_agent_v1_ContinueResponse, _criu_agent_v1_ContinueResponse__Output>
      DumpOptions: MessageTypeDefinition<_criu_agent_v1_DumpOptions, _criu_agent_v1_DumpOptions__Output>
      DumpRequest: MessageTypeDefinition<_criu_agent_v1_DumpRequest, _criu_agent_v1_DumpRequest__Output>
      DumpResponse: MessageTypeDefinition<_criu_agent_v1_DumpResponse, _criu_agent_v1_DumpResponse__Output>
      FinalState: EnumTypeDefinition
      NetworkLock: EnumTypeDefinition
      PreDumpRequest: MessageTypeDefinition<_criu_agent_v1_PreDumpRequest, _criu_agent_v1_PreDumpRequest__Output>
      PreDumpResponse: MessageTypeDefinition<_criu_agent_v1_PreDumpResponse, _criu_agent_v1_PreDumpResponse__Output>
      RestoreOptions: MessageTypeDefinition<_criu_agent_v1_RestoreOptions, _criu_agent_v1_RestoreOptions__Output>
      RestoreRequest: MessageTypeDefinition<_criu_agent_v1_RestoreRequest, _criu_agent_v1_RestoreRequest__Output>
      RestoreResponse: MessageTypeDefinition<_criu_agent_v1_RestoreResponse, _criu_agent_v1_RestoreResponse__Output>
    }
  }
}

