import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CheckRequest as _criu_agent_v1_CheckRequest, CheckRequest__Output as _criu_agent_v1_CheckRequest__Output } from './criu_agent/v1/CheckRequest';
import type { CheckResponse as _criu_agent_v1_CheckResponse, CheckResponse__Output as _criu_agent_v1_CheckResponse__Output } from './criu_agent/v1/CheckResponse';
import type { Checkpoint as _criu_agent_v1_Checkpoint, Checkpoint__Output as _criu_agent_v1_Checkpoint__Output } from './criu_agent/v1/Checkpoint';
import type { CheckpointAgentClient as _criu_agent_v1_CheckpointAgentClient, CheckpointAgentDefinition as _criu_agent_v1_CheckpointAgentDefinition } from './criu_agent/v1/CheckpointAgent';
import type { CheckpointChunk as _criu_agent_v1_CheckpointChunk, CheckpointChunk__Output as _criu_agent_v1_CheckpointChunk__Output } from './criu_agent/v1/CheckpointChunk';
import type { CheckpointManifest as _criu_agent_v1_CheckpointManifest, CheckpointManifest__Output as _criu_agent_v1_CheckpointManifest__Output } from './criu_agent/v1/CheckpointManifest';
import type { ContinueRequest as _criu_agent_v1_ContinueRequest, ContinueRequest__Output as _criu_agent_v1_ContinueRequest__Output } from './criu_agent/v1/ContinueRequest';
import type { ContinueResponse as _criu_agent_v1_ContinueResponse, ContinueResponse__Output as _criu_agent_v1_ContinueResponse__Output } from './criu_agent/v1/ContinueResponse';
import type { DeleteCheckpointRequest as _criu_agent_v1_DeleteCheckpointRequest, DeleteCheckpointRequest__Output as _criu_agent_v1_DeleteCheckpointRequest__Output } from './criu_agent/v1/DeleteCheckpointRequest';
import type { DeleteCheckpointResponse as _criu_agent_v1_DeleteCheckpointResponse, DeleteCheckpointResponse__Output as _criu_agent_v1_DeleteCheckpointResponse__Output } from './criu_agent/v1/DeleteCheckpointResponse';
import type { DumpOptions as _criu_agent_v1_DumpOptions, DumpOptions__Output as _criu_agent_v1_DumpOptions__Output } from './criu_agent/v1/DumpOptions';
import type { DumpRequest as _criu_agent_v1_DumpRequest, DumpRequest__Output as _criu_agent_v1_DumpRequest__Output } from './criu_agent/v1/DumpRequest';
import type { DumpResponse as _criu_agent_v1_DumpResponse, DumpResponse__Output as _criu_agent_v1_DumpResponse__Output } from './criu_agent/v1/DumpResponse';
import type { DumpStats as _criu_agent_v1_DumpStats, DumpStats__Output as _criu_agent_v1_DumpStats__Output } from './criu_agent/v1/DumpStats';
import type { ExportCheckpointRequest as _criu_agent_v1_ExportCheckpointRequest, ExportCheckpointRequest__Output as _criu_agent_v1_ExportCheckpointRequest__Output } from './criu_agent/v1/ExportCheckpointRequest';
import type { FileData as _criu_agent_v1_FileData, FileData__Output as _criu_agent_v1_FileData__Output } from './criu_agent/v1/FileData';
import type { GetCheckpointRequest as _criu_agent_v1_GetCheckpointRequest, GetCheckpointRequest__Output as _criu_agent_v1_GetCheckpointRequest__Output } from './criu_agent/v1/GetCheckpointRequest';
import type { Gpu as _criu_agent_v1_Gpu, Gpu__Output as _criu_agent_v1_Gpu__Output } from './criu_agent/v1/Gpu';
import type { GpuCheck as _criu_agent_v1_GpuCheck, GpuCheck__Output as _criu_agent_v1_GpuCheck__Output } from './criu_agent/v1/GpuCheck';
import type { GpuProcessStats as _criu_agent_v1_GpuProcessStats, GpuProcessStats__Output as _criu_agent_v1_GpuProcessStats__Output } from './criu_agent/v1/GpuProcessStats';
import type { ListCheckpointsRequest as _criu_agent_v1_ListCheckpointsRequest, ListCheckpointsRequest__Output as _criu_agent_v1_ListCheckpointsRequest__Output } from './criu_agent/v1/ListCheckpointsRequest';
import type { ListCheckpointsResponse as _criu_agent_v1_ListCheckpointsResponse, ListCheckpointsResponse__Output as _criu_agent_v1_ListCheckpointsResponse__Output } from './criu_agent/v1/ListCheckpointsResponse';
import type { ManifestFile as _criu_agent_v1_ManifestFile, ManifestFile__Output as _criu_agent_v1_ManifestFile__Output } from './criu_agent/v1/ManifestFile';
import type { MigrateEvent as _criu_agent_v1_MigrateEvent, MigrateEvent__Output as _criu_agent_v1_MigrateEvent__Output } from './criu_agent/v1/MigrateEvent';
import type { MigrateRequest as _criu_agent_v1_MigrateRequest, MigrateRequest__Output as _criu_agent_v1_MigrateRequest__Output } from './criu_agent/v1/MigrateRequest';
import type { MigrateResult as _criu_agent_v1_MigrateResult, MigrateResult__Output as _criu_agent_v1_MigrateResult__Output } from './criu_agent/v1/MigrateResult';
import type { MigrationAccepted as _criu_agent_v1_MigrationAccepted, MigrationAccepted__Output as _criu_agent_v1_MigrationAccepted__Output } from './criu_agent/v1/MigrationAccepted';
import type { MigrationCommit as _criu_agent_v1_MigrationCommit, MigrationCommit__Output as _criu_agent_v1_MigrationCommit__Output } from './criu_agent/v1/MigrationCommit';
import type { MigrationDone as _criu_agent_v1_MigrationDone, MigrationDone__Output as _criu_agent_v1_MigrationDone__Output } from './criu_agent/v1/MigrationDone';
import type { MigrationOffer as _criu_agent_v1_MigrationOffer, MigrationOffer__Output as _criu_agent_v1_MigrationOffer__Output } from './criu_agent/v1/MigrationOffer';
import type { MigrationPageServerClosed as _criu_agent_v1_MigrationPageServerClosed, MigrationPageServerClosed__Output as _criu_agent_v1_MigrationPageServerClosed__Output } from './criu_agent/v1/MigrationPageServerClosed';
import type { MigrationReply as _criu_agent_v1_MigrationReply, MigrationReply__Output as _criu_agent_v1_MigrationReply__Output } from './criu_agent/v1/MigrationReply';
import type { MigrationRestore as _criu_agent_v1_MigrationRestore, MigrationRestore__Output as _criu_agent_v1_MigrationRestore__Output } from './criu_agent/v1/MigrationRestore';
import type { MigrationRestored as _criu_agent_v1_MigrationRestored, MigrationRestored__Output as _criu_agent_v1_MigrationRestored__Output } from './criu_agent/v1/MigrationRestored';
import type { MigrationStep as _criu_agent_v1_MigrationStep, MigrationStep__Output as _criu_agent_v1_MigrationStep__Output } from './criu_agent/v1/MigrationStep';
import type { PreDumpRequest as _criu_agent_v1_PreDumpRequest, PreDumpRequest__Output as _criu_agent_v1_PreDumpRequest__Output } from './criu_agent/v1/PreDumpRequest';
import type { PreDumpResponse as _criu_agent_v1_PreDumpResponse, PreDumpResponse__Output as _criu_agent_v1_PreDumpResponse__Output } from './criu_agent/v1/PreDumpResponse';
import type { PullCheckpointRequest as _criu_agent_v1_PullCheckpointRequest, PullCheckpointRequest__Output as _criu_agent_v1_PullCheckpointRequest__Output } from './criu_agent/v1/PullCheckpointRequest';
import type { PushCheckpointRequest as _criu_agent_v1_PushCheckpointRequest, PushCheckpointRequest__Output as _criu_agent_v1_PushCheckpointRequest__Output } from './criu_agent/v1/PushCheckpointRequest';
import type { PushCheckpointResponse as _criu_agent_v1_PushCheckpointResponse, PushCheckpointResponse__Output as _criu_agent_v1_PushCheckpointResponse__Output } from './criu_agent/v1/PushCheckpointResponse';
import type { RestoreOptions as _criu_agent_v1_RestoreOptions, RestoreOptions__Output as _criu_agent_v1_RestoreOptions__Output } from './criu_agent/v1/RestoreOptions';
import type { RestoreRequest as _criu_agent_v1_RestoreRequest, RestoreRequest__Output as _criu_agent_v1_RestoreRequest__Output } from './criu_agent/v1/RestoreRequest';
import type { RestoreResponse as _criu_agent_v1_RestoreResponse, RestoreResponse__Output as _criu_agent_v1_RestoreResponse__Output } from './criu_agent/v1/RestoreResponse';
import type { RestoreStats as _criu_agent_v1_RestoreStats, RestoreStats__Output as _criu_agent_v1_RestoreStats__Output } from './criu_agent/v1/RestoreStats';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  criu_agent: {
    v1: {
      CgroupMode: EnumTypeDefinition
      CheckRequest: MessageTypeDefinition<_criu_agent_v1_CheckRequest, _criu_agent_v1_CheckRequest__Output>
      CheckResponse: MessageTypeDefinition<_criu_agent_v1_CheckResponse, _criu_agent_v1_CheckResponse__Output>
      Checkpoint: MessageTypeDefinition<_criu_agent_v1_Checkpoint, _criu_agent_v1_Checkpoint__Output>
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
      CheckpointChunk: MessageTypeDefinition<_criu_agent_v1_CheckpointChunk, _criu_agent_v1_CheckpointChunk__Output>
      CheckpointKind: EnumTypeDefinition
      CheckpointManifest: MessageTypeDefinition<_criu_agent_v1_CheckpointManifest, _criu_agent_v1_CheckpointManifest__Output>
      ContinueRequest: MessageTypeDefinition<_criu_agent_v1_ContinueRequest, _criu_agent_v1_ContinueRequest__Output>
      ContinueResponse: MessageTypeDefinition<_criu_agent_v1_ContinueResponse, _criu_agent_v1_ContinueResponse__Output>
      DeleteCheckpointRequest: MessageTypeDefinition<_criu_agent_v1_DeleteCheckpointRequest, _criu_agent_v1_DeleteCheckpointRequest__Output>
      DeleteCheckpointResponse: MessageTypeDefinition<_criu_agent_v1_DeleteCheckpointResponse, _criu_agent_v1_DeleteCheckpointResponse__Output>
      DumpOptions: MessageTypeDefinition<_criu_agent_v1_DumpOptions, _criu_agent_v1_DumpOptions__Output>
      DumpRequest: MessageTypeDefinition<_criu_agent_v1_DumpRequest, _criu_agent_v1_DumpRequest__Output>
      DumpResponse: MessageTypeDefinition<_criu_agent_v1_DumpResponse, _criu_agent_v1_DumpResponse__Output>
      DumpStats: MessageTypeDefinition<_criu_agent_v1_DumpStats, _criu_agent_v1_DumpStats__Output>
      ExportCheckpointRequest: MessageTypeDefinition<_criu_agent_v1_ExportCheckpointRequest, _criu_agent_v1_ExportCheckpointRequest__Output>
      FileData: MessageTypeDefinition<_criu_agent_v1_FileData, _criu_agent_v1_FileData__Output>
      FinalState: EnumTypeDefinition
      GetCheckpointRequest: MessageTypeDefinition<_criu_agent_v1_GetCheckpointRequest, _criu_agent_v1_GetCheckpointRequest__Output>
      Gpu: MessageTypeDefinition<_criu_agent_v1_Gpu, _criu_agent_v1_Gpu__Output>
      GpuCheck: MessageTypeDefinition<_criu_agent_v1_GpuCheck, _criu_agent_v1_GpuCheck__Output>
      GpuProcessStats: MessageTypeDefinition<_criu_agent_v1_GpuProcessStats, _criu_agent_v1_GpuProcessStats__Output>
      ListCheckpointsRequest: MessageTypeDefinition<_criu_agent_v1_ListCheckpointsRequest, _criu_agent_v1_ListCheckpointsRequest__Output>
      ListCheckpointsResponse: MessageTypeDefinition<_criu_agent_v1_ListCheckpointsResponse, _criu_agent_v1_ListCheckpointsResponse__Output>
      ManifestFile: MessageTypeDefinition<_criu_agent_v1_ManifestFile, _criu_agent_v1_ManifestFile__Output>
      MigrateEvent: MessageTypeDefinition<_criu_agent_v1_MigrateEvent, _criu_agent_v1_MigrateEvent__Output>
      MigrateMode: EnumTypeDefinition
      MigrateRequest: MessageTypeDefinition<_criu_agent_v1_MigrateRequest, _criu_agent_v1_MigrateRequest__Output>
      MigrateResult: MessageTypeDefinition<_criu_agent_v1_MigrateResult, _criu_agent_v1_MigrateResult__Output>
      MigrateStep: EnumTypeDefinition
      MigrationAccepted: MessageTypeDefinition<_criu_agent_v1_MigrationAccepted, _criu_agent_v1_MigrationAccepted__Output>
      MigrationCommit: MessageTypeDefinition<_criu_agent_v1_MigrationCommit, _criu_agent_v1_MigrationCommit__Output>
      MigrationDone: MessageTypeDefinition<_criu_agent_v1_MigrationDone, _criu_agent_v1_MigrationDone__Output>
      MigrationOffer: MessageTypeDefinition<_criu_agent_v1_MigrationOffer, _criu_agent_v1_MigrationOffer__Output>
      MigrationPageServerClosed: MessageTypeDefinition<_criu_agent_v1_MigrationPageServerClosed, _criu_agent_v1_MigrationPageServerClosed__Output>
      MigrationReply: MessageTypeDefinition<_criu_agent_v1_MigrationReply, _criu_agent_v1_MigrationReply__Output>
      MigrationRestore: MessageTypeDefinition<_criu_agent_v1_MigrationRestore, _criu_agent_v1_MigrationRestore__Output>
      MigrationRestored: MessageTypeDefinition<_criu_agent_v1_MigrationRestored, _criu_agent_v1_MigrationRestored__Output>
      MigrationStep: MessageTypeDefinition<_criu_agent_v1_MigrationStep, _criu_agent_v1_MigrationStep__Output>
      NetworkLock: EnumTypeDefinition
      PreDumpRequest: MessageTypeDefinition<_criu_agent_v1_PreDumpRequest, _criu_agent_v1_PreDumpRequest__Output>
      PreDumpResponse: MessageTypeDefinition<_criu_agent_v1_PreDumpResponse, _criu_agent_v1_PreDumpResponse__Output>
      PullCheckpointRequest: MessageTypeDefinition<_criu_agent_v1_PullCheckpointRequest, _criu_agent_v1_PullCheckpointRequest__Output>
      PushCheckpointRequest: MessageTypeDefinition<_criu_agent_v1_PushCheckpointRequest, _criu_agent_v1_PushCheckpointRequest__Output>
      PushCheckpointResponse: MessageTypeDefinition<_criu_agent_v1_PushCheckpointResponse, _criu_agent_v1_PushCheckpointResponse__Output>
      RestoreOptions: MessageTypeDefinition<_criu_agent_v1_RestoreOptions, _criu_agent_v1_RestoreOptions__Output>
      RestoreRequest: MessageTypeDefinition<_criu_agent_v1_RestoreRequest, _criu_agent_v1_RestoreRequest__Output>
      RestoreResponse: MessageTypeDefinition<_criu_agent_v1_RestoreResponse, _criu_agent_v1_RestoreResponse__Output>
      RestoreStats: MessageTypeDefinition<_criu_agent_v1_RestoreStats, _criu_agent_v1_RestoreStats__Output>
    }
  }
}

