// Original file: proto/criu_agent/v1/agent.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CheckRequest as _criu_agent_v1_CheckRequest, CheckRequest__Output as _criu_agent_v1_CheckRequest__Output } from '../../criu_agent/v1/CheckRequest';
import type { CheckResponse as _criu_agent_v1_CheckResponse, CheckResponse__Output as _criu_agent_v1_CheckResponse__Output } from '../../criu_agent/v1/CheckResponse';
import type { Checkpoint as _criu_agent_v1_Checkpoint, Checkpoint__Output as _criu_agent_v1_Checkpoint__Output } from '../../criu_agent/v1/Checkpoint';
import type { CheckpointChunk as _criu_agent_v1_CheckpointChunk, CheckpointChunk__Output as _criu_agent_v1_CheckpointChunk__Output } from '../../criu_agent/v1/CheckpointChunk';
import type { ContinueRequest as _criu_agent_v1_ContinueRequest, ContinueRequest__Output as _criu_agent_v1_ContinueRequest__Output } from '../../criu_agent/v1/ContinueRequest';
import type { ContinueResponse as _criu_agent_v1_ContinueResponse, ContinueResponse__Output as _criu_agent_v1_ContinueResponse__Output } from '../../criu_agent/v1/ContinueResponse';
import type { DeleteCheckpointRequest as _criu_agent_v1_DeleteCheckpointRequest, DeleteCheckpointRequest__Output as _criu_agent_v1_DeleteCheckpointRequest__Output } from '../../criu_agent/v1/DeleteCheckpointRequest';
import type { DeleteCheckpointResponse as _criu_agent_v1_DeleteCheckpointResponse, DeleteCheckpointResponse__Output as _criu_agent_v1_DeleteCheckpointResponse__Output } from '../../criu_agent/v1/DeleteCheckpointResponse';
import type { DumpRequest as _criu_agent_v1_DumpRequest, DumpRequest__Output as _criu_agent_v1_DumpRequest__Output } from '../../criu_agent/v1/DumpRequest';
import type { DumpResponse as _criu_agent_v1_DumpResponse, DumpResponse__Output as _criu_agent_v1_DumpResponse__Output } from '../../criu_agent/v1/DumpResponse';
import type { ExportCheckpointRequest as _criu_agent_v1_ExportCheckpointRequest, ExportCheckpointRequest__Output as _criu_agent_v1_ExportCheckpointRequest__Output } from '../../criu_agent/v1/ExportCheckpointRequest';
import type { GetCheckpointRequest as _criu_agent_v1_GetCheckpointRequest, GetCheckpointRequest__Output as _criu_agent_v1_GetCheckpointRequest__Output } from '../../criu_agent/v1/GetCheckpointRequest';
import type { ListCheckpointsRequest as _criu_agent_v1_ListCheckpointsRequest, ListCheckpointsRequest__Output as _criu_agent_v1_ListCheckpointsRequest__Output } from '../../criu_agent/v1/ListCheckpointsRequest';
import type { ListCheckpointsResponse as _criu_agent_v1_ListCheckpointsResponse, ListCheckpointsResponse__Output as _criu_agent_v1_ListCheckpointsResponse__Output } from '../../criu_agent/v1/ListCheckpointsResponse';
import type { MigrateEvent as _criu_agent_v1_MigrateEvent, MigrateEvent__Output as _criu_agent_v1_MigrateEvent__Output } from '../../criu_agent/v1/MigrateEvent';
import type { MigrateRequest as _criu_agent_v1_MigrateRequest, MigrateRequest__Output as _criu_agent_v1_MigrateRequest__Output } from '../../criu_agent/v1/MigrateRequest';
import type { MigrationReply as _criu_agent_v1_MigrationReply, MigrationReply__Output as _criu_agent_v1_MigrationReply__Output } from '../../criu_agent/v1/MigrationReply';
import type { MigrationStep as _criu_agent_v1_MigrationStep, MigrationStep__Output as _criu_agent_v1_MigrationStep__Output } from '../../criu_agent/v1/MigrationStep';
import type { PreDumpRequest as _criu_agent_v1_PreDumpRequest, PreDumpRequest__Output as _criu_agent_v1_PreDumpRequest__Output } from '../../criu_agent/v1/PreDumpRequest';
import type { PreDumpResponse as _criu_agent_v1_PreDumpResponse, PreDumpResponse__Output as _criu_agent_v1_PreDumpResponse__Output } from '../../criu_agent/v1/PreDumpResponse';
import type { PullCheckpointRequest as _criu_agent_v1_PullCheckpointRequest, PullCheckpointRequest__Output as _criu_agent_v1_PullCheckpointRequest__Output } from '../../criu_agent/v1/PullCheckpointRequest';
import type { PushCheckpointRequest as _criu_agent_v1_PushCheckpointRequest, PushCheckpointRequest__Output as _criu_agent_v1_PushCheckpointRequest__Output } from '../../criu_agent/v1/PushCheckpointRequest';
import type { PushCheckpointResponse as _criu_agent_v1_PushCheckpointResponse, PushCheckpointResponse__Output as _criu_agent_v1_PushCheckpointResponse__Output } from '../../criu_agent/v1/PushCheckpointResponse';
import type { RestoreRequest as _criu_agent_v1_RestoreRequest, RestoreRequest__Output as _criu_agent_v1_RestoreRequest__Output } from '../../criu_agent/v1/RestoreRequest';
import type { RestoreResponse as _criu_agent_v1_RestoreResponse, RestoreResponse__Output as _criu_agent_v1_RestoreResponse__Output } from '../../criu_agent/v1/RestoreResponse';

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
export interface CheckpointAgentClient extends grpc.Client {
  /**
   * Check reports the CRIU this agent drives and the kernel features that
   * decide what it can do, so a caller can decide before it asks.
   */
  Check(argument: _criu_agent_v1_CheckRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  Check(argument: _criu_agent_v1_CheckRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  Check(argument: _criu_agent_v1_CheckRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  Check(argument: _criu_agent_v1_CheckRequest, callback: grpc.requestCallback<_criu_agent_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Check reports the CRIU this agent drives and the kernel features that
   * decide what it can do, so a caller can decide before it asks.
   */
  check(argument: _criu_agent_v1_CheckRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  check(argument: _criu_agent_v1_CheckRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  check(argument: _criu_agent_v1_CheckRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  check(argument: _criu_agent_v1_CheckRequest, callback: grpc.requestCallback<_criu_agent_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Continue resumes a tree left STOPPED (by Dump, Restore or anyone else):
   * SIGCONT to every process of the tree. FAILED_PRECONDITION when the tree
   * is not stopped.
   */
  Continue(argument: _criu_agent_v1_ContinueRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_ContinueResponse__Output>): grpc.ClientUnaryCall;
  Continue(argument: _criu_agent_v1_ContinueRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_ContinueResponse__Output>): grpc.ClientUnaryCall;
  Continue(argument: _criu_agent_v1_ContinueRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_ContinueResponse__Output>): grpc.ClientUnaryCall;
  Continue(argument: _criu_agent_v1_ContinueRequest, callback: grpc.requestCallback<_criu_agent_v1_ContinueResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Continue resumes a tree left STOPPED (by Dump, Restore or anyone else):
   * SIGCONT to every process of the tree. FAILED_PRECONDITION when the tree
   * is not stopped.
   */
  continue(argument: _criu_agent_v1_ContinueRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_ContinueResponse__Output>): grpc.ClientUnaryCall;
  continue(argument: _criu_agent_v1_ContinueRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_ContinueResponse__Output>): grpc.ClientUnaryCall;
  continue(argument: _criu_agent_v1_ContinueRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_ContinueResponse__Output>): grpc.ClientUnaryCall;
  continue(argument: _criu_agent_v1_ContinueRequest, callback: grpc.requestCallback<_criu_agent_v1_ContinueResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * DeleteCheckpoint removes a checkpoint. A checkpoint that others are built
   * on (their parent) is refused with FAILED_PRECONDITION unless `cascade`
   * is set, which deletes those too.
   */
  DeleteCheckpoint(argument: _criu_agent_v1_DeleteCheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_DeleteCheckpointResponse__Output>): grpc.ClientUnaryCall;
  DeleteCheckpoint(argument: _criu_agent_v1_DeleteCheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_DeleteCheckpointResponse__Output>): grpc.ClientUnaryCall;
  DeleteCheckpoint(argument: _criu_agent_v1_DeleteCheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_DeleteCheckpointResponse__Output>): grpc.ClientUnaryCall;
  DeleteCheckpoint(argument: _criu_agent_v1_DeleteCheckpointRequest, callback: grpc.requestCallback<_criu_agent_v1_DeleteCheckpointResponse__Output>): grpc.ClientUnaryCall;
  /**
   * DeleteCheckpoint removes a checkpoint. A checkpoint that others are built
   * on (their parent) is refused with FAILED_PRECONDITION unless `cascade`
   * is set, which deletes those too.
   */
  deleteCheckpoint(argument: _criu_agent_v1_DeleteCheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_DeleteCheckpointResponse__Output>): grpc.ClientUnaryCall;
  deleteCheckpoint(argument: _criu_agent_v1_DeleteCheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_DeleteCheckpointResponse__Output>): grpc.ClientUnaryCall;
  deleteCheckpoint(argument: _criu_agent_v1_DeleteCheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_DeleteCheckpointResponse__Output>): grpc.ClientUnaryCall;
  deleteCheckpoint(argument: _criu_agent_v1_DeleteCheckpointRequest, callback: grpc.requestCallback<_criu_agent_v1_DeleteCheckpointResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Dump checkpoints the tree rooted at `pid` into a new checkpoint. The tree
   * ends DEAD (killed) unless `final_state` asks for RUNNING or STOPPED.
   */
  Dump(argument: _criu_agent_v1_DumpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_DumpResponse__Output>): grpc.ClientUnaryCall;
  Dump(argument: _criu_agent_v1_DumpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_DumpResponse__Output>): grpc.ClientUnaryCall;
  Dump(argument: _criu_agent_v1_DumpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_DumpResponse__Output>): grpc.ClientUnaryCall;
  Dump(argument: _criu_agent_v1_DumpRequest, callback: grpc.requestCallback<_criu_agent_v1_DumpResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Dump checkpoints the tree rooted at `pid` into a new checkpoint. The tree
   * ends DEAD (killed) unless `final_state` asks for RUNNING or STOPPED.
   */
  dump(argument: _criu_agent_v1_DumpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_DumpResponse__Output>): grpc.ClientUnaryCall;
  dump(argument: _criu_agent_v1_DumpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_DumpResponse__Output>): grpc.ClientUnaryCall;
  dump(argument: _criu_agent_v1_DumpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_DumpResponse__Output>): grpc.ClientUnaryCall;
  dump(argument: _criu_agent_v1_DumpRequest, callback: grpc.requestCallback<_criu_agent_v1_DumpResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * ExportCheckpoint streams a checkpoint out of this node: for each
   * checkpoint (with `include_parents`, the pre-dumps it builds on first,
   * oldest first), a `manifest` chunk, then its files' bytes in `data`
   * chunks, in manifest order. What it streams is exactly what
   * ImportCheckpoint takes, so `grpcurl ... ExportCheckpoint | grpcurl -d @
   * ... ImportCheckpoint` moves a checkpoint between nodes. Files are checked
   * against this node's digests while they are read: DATA_LOSS when one
   * changed since the dump.
   */
  ExportCheckpoint(argument: _criu_agent_v1_ExportCheckpointRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_criu_agent_v1_CheckpointChunk__Output>;
  ExportCheckpoint(argument: _criu_agent_v1_ExportCheckpointRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_criu_agent_v1_CheckpointChunk__Output>;
  /**
   * ExportCheckpoint streams a checkpoint out of this node: for each
   * checkpoint (with `include_parents`, the pre-dumps it builds on first,
   * oldest first), a `manifest` chunk, then its files' bytes in `data`
   * chunks, in manifest order. What it streams is exactly what
   * ImportCheckpoint takes, so `grpcurl ... ExportCheckpoint | grpcurl -d @
   * ... ImportCheckpoint` moves a checkpoint between nodes. Files are checked
   * against this node's digests while they are read: DATA_LOSS when one
   * changed since the dump.
   */
  exportCheckpoint(argument: _criu_agent_v1_ExportCheckpointRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_criu_agent_v1_CheckpointChunk__Output>;
  exportCheckpoint(argument: _criu_agent_v1_ExportCheckpointRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_criu_agent_v1_CheckpointChunk__Output>;
  
  /**
   * GetCheckpoint describes one checkpoint: its manifest.
   */
  GetCheckpoint(argument: _criu_agent_v1_GetCheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  GetCheckpoint(argument: _criu_agent_v1_GetCheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  GetCheckpoint(argument: _criu_agent_v1_GetCheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  GetCheckpoint(argument: _criu_agent_v1_GetCheckpointRequest, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  /**
   * GetCheckpoint describes one checkpoint: its manifest.
   */
  getCheckpoint(argument: _criu_agent_v1_GetCheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  getCheckpoint(argument: _criu_agent_v1_GetCheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  getCheckpoint(argument: _criu_agent_v1_GetCheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  getCheckpoint(argument: _criu_agent_v1_GetCheckpointRequest, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  
  /**
   * ImportCheckpoint stores the checkpoints of a stream made by
   * ExportCheckpoint. Files are written into a hidden temporary directory and
   * hashed as they arrive; the checkpoints are listed only once every file of
   * every one of them matched the sender's manifest (size and XXH64 digest),
   * all of them or none. ALREADY_EXISTS when a checkpoint id is taken,
   * FAILED_PRECONDITION when a parent is neither on this node nor earlier in
   * the stream, RESOURCE_EXHAUSTED when the state directory lacks the space
   * (checked before anything is written, and on ENOSPC), DATA_LOSS when a file
   * does not match its digest or the stream ends early, INVALID_ARGUMENT for a
   * malformed stream. Returns the (last) checkpoint as stored here.
   */
  ImportCheckpoint(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientWritableStream<_criu_agent_v1_CheckpointChunk>;
  ImportCheckpoint(metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientWritableStream<_criu_agent_v1_CheckpointChunk>;
  ImportCheckpoint(options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientWritableStream<_criu_agent_v1_CheckpointChunk>;
  ImportCheckpoint(callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientWritableStream<_criu_agent_v1_CheckpointChunk>;
  /**
   * ImportCheckpoint stores the checkpoints of a stream made by
   * ExportCheckpoint. Files are written into a hidden temporary directory and
   * hashed as they arrive; the checkpoints are listed only once every file of
   * every one of them matched the sender's manifest (size and XXH64 digest),
   * all of them or none. ALREADY_EXISTS when a checkpoint id is taken,
   * FAILED_PRECONDITION when a parent is neither on this node nor earlier in
   * the stream, RESOURCE_EXHAUSTED when the state directory lacks the space
   * (checked before anything is written, and on ENOSPC), DATA_LOSS when a file
   * does not match its digest or the stream ends early, INVALID_ARGUMENT for a
   * malformed stream. Returns the (last) checkpoint as stored here.
   */
  importCheckpoint(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientWritableStream<_criu_agent_v1_CheckpointChunk>;
  importCheckpoint(metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientWritableStream<_criu_agent_v1_CheckpointChunk>;
  importCheckpoint(options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientWritableStream<_criu_agent_v1_CheckpointChunk>;
  importCheckpoint(callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientWritableStream<_criu_agent_v1_CheckpointChunk>;
  
  /**
   * ListCheckpoints lists the complete checkpoints on this node, oldest
   * first. Checkpoints being written, and failed ones, are never listed.
   */
  ListCheckpoints(argument: _criu_agent_v1_ListCheckpointsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_ListCheckpointsResponse__Output>): grpc.ClientUnaryCall;
  ListCheckpoints(argument: _criu_agent_v1_ListCheckpointsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_ListCheckpointsResponse__Output>): grpc.ClientUnaryCall;
  ListCheckpoints(argument: _criu_agent_v1_ListCheckpointsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_ListCheckpointsResponse__Output>): grpc.ClientUnaryCall;
  ListCheckpoints(argument: _criu_agent_v1_ListCheckpointsRequest, callback: grpc.requestCallback<_criu_agent_v1_ListCheckpointsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * ListCheckpoints lists the complete checkpoints on this node, oldest
   * first. Checkpoints being written, and failed ones, are never listed.
   */
  listCheckpoints(argument: _criu_agent_v1_ListCheckpointsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_ListCheckpointsResponse__Output>): grpc.ClientUnaryCall;
  listCheckpoints(argument: _criu_agent_v1_ListCheckpointsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_ListCheckpointsResponse__Output>): grpc.ClientUnaryCall;
  listCheckpoints(argument: _criu_agent_v1_ListCheckpointsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_ListCheckpointsResponse__Output>): grpc.ClientUnaryCall;
  listCheckpoints(argument: _criu_agent_v1_ListCheckpointsRequest, callback: grpc.requestCallback<_criu_agent_v1_ListCheckpointsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Migrate moves the running tree rooted at `pid` to the agent at
   * `destination`; called on the source agent, it streams one event per step
   * and ends with the result. Before the tree is frozen the destination is
   * asked whether it can take it (reachable, authorized for
   * ReceiveMigration, the CRIU version, the kernel features the mode needs,
   * a compatible CPU by CRIU's cpuinfo check, its pids free, the space): a
   * refusal costs the workload nothing. Stop-and-copy then dumps the tree,
   * its pages going straight to a CRIU page server on the destination (the
   * source writes none), the other images following as a checkpoint stream;
   * the destination restores the tree STOPPED, the source kills its copy,
   * and the destination leaves it in `final_state`. Until the destination
   * reported the tree restored, any failure (refusal, lost connection,
   * destination CRIU failing, deadline, cancel) resumes the tree on the
   * source and leaves nothing on the destination; the error says so.
   * PRE_COPY needs kernel memory tracking and POST_COPY lazy pages on both
   * nodes: FAILED_PRECONDITION, before anything is frozen, where either lacks
   * them (and, in this version, where they are present: only stop-and-copy
   * is implemented).
   */
  Migrate(argument: _criu_agent_v1_MigrateRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_criu_agent_v1_MigrateEvent__Output>;
  Migrate(argument: _criu_agent_v1_MigrateRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_criu_agent_v1_MigrateEvent__Output>;
  /**
   * Migrate moves the running tree rooted at `pid` to the agent at
   * `destination`; called on the source agent, it streams one event per step
   * and ends with the result. Before the tree is frozen the destination is
   * asked whether it can take it (reachable, authorized for
   * ReceiveMigration, the CRIU version, the kernel features the mode needs,
   * a compatible CPU by CRIU's cpuinfo check, its pids free, the space): a
   * refusal costs the workload nothing. Stop-and-copy then dumps the tree,
   * its pages going straight to a CRIU page server on the destination (the
   * source writes none), the other images following as a checkpoint stream;
   * the destination restores the tree STOPPED, the source kills its copy,
   * and the destination leaves it in `final_state`. Until the destination
   * reported the tree restored, any failure (refusal, lost connection,
   * destination CRIU failing, deadline, cancel) resumes the tree on the
   * source and leaves nothing on the destination; the error says so.
   * PRE_COPY needs kernel memory tracking and POST_COPY lazy pages on both
   * nodes: FAILED_PRECONDITION, before anything is frozen, where either lacks
   * them (and, in this version, where they are present: only stop-and-copy
   * is implemented).
   */
  migrate(argument: _criu_agent_v1_MigrateRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_criu_agent_v1_MigrateEvent__Output>;
  migrate(argument: _criu_agent_v1_MigrateRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_criu_agent_v1_MigrateEvent__Output>;
  
  /**
   * PreDump copies the tree's memory into a new checkpoint while it keeps
   * running, so that a later Dump with `parent_checkpoint_id` only has to save
   * what changed since. Needs kernel memory tracking (soft-dirty bits):
   * FAILED_PRECONDITION where the kernel lacks it.
   */
  PreDump(argument: _criu_agent_v1_PreDumpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_PreDumpResponse__Output>): grpc.ClientUnaryCall;
  PreDump(argument: _criu_agent_v1_PreDumpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_PreDumpResponse__Output>): grpc.ClientUnaryCall;
  PreDump(argument: _criu_agent_v1_PreDumpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_PreDumpResponse__Output>): grpc.ClientUnaryCall;
  PreDump(argument: _criu_agent_v1_PreDumpRequest, callback: grpc.requestCallback<_criu_agent_v1_PreDumpResponse__Output>): grpc.ClientUnaryCall;
  /**
   * PreDump copies the tree's memory into a new checkpoint while it keeps
   * running, so that a later Dump with `parent_checkpoint_id` only has to save
   * what changed since. Needs kernel memory tracking (soft-dirty bits):
   * FAILED_PRECONDITION where the kernel lacks it.
   */
  preDump(argument: _criu_agent_v1_PreDumpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_PreDumpResponse__Output>): grpc.ClientUnaryCall;
  preDump(argument: _criu_agent_v1_PreDumpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_PreDumpResponse__Output>): grpc.ClientUnaryCall;
  preDump(argument: _criu_agent_v1_PreDumpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_PreDumpResponse__Output>): grpc.ClientUnaryCall;
  preDump(argument: _criu_agent_v1_PreDumpRequest, callback: grpc.requestCallback<_criu_agent_v1_PreDumpResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * PullCheckpoint downloads a checkpoint image into this node's store. Every
   * blob is checked against its sha256 and every file against the agent's
   * own digests while it is written; nothing is listed unless all matched
   * (DATA_LOSS otherwise). It can then be restored like any other.
   */
  PullCheckpoint(argument: _criu_agent_v1_PullCheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  PullCheckpoint(argument: _criu_agent_v1_PullCheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  PullCheckpoint(argument: _criu_agent_v1_PullCheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  PullCheckpoint(argument: _criu_agent_v1_PullCheckpointRequest, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  /**
   * PullCheckpoint downloads a checkpoint image into this node's store. Every
   * blob is checked against its sha256 and every file against the agent's
   * own digests while it is written; nothing is listed unless all matched
   * (DATA_LOSS otherwise). It can then be restored like any other.
   */
  pullCheckpoint(argument: _criu_agent_v1_PullCheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  pullCheckpoint(argument: _criu_agent_v1_PullCheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  pullCheckpoint(argument: _criu_agent_v1_PullCheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  pullCheckpoint(argument: _criu_agent_v1_PullCheckpointRequest, callback: grpc.requestCallback<_criu_agent_v1_Checkpoint__Output>): grpc.ClientUnaryCall;
  
  /**
   * PushCheckpoint uploads a checkpoint, with the pre-dumps it builds on, to
   * an OCI registry as an image (docs/registry.md): only the files the
   * registry lacks are sent. The checkpoint stays here, untouched.
   * UNAVAILABLE when the registry cannot be reached (after retries),
   * UNAUTHENTICATED / PERMISSION_DENIED with the registry's words when it
   * refuses the node's credentials, DATA_LOSS when a file no longer matches
   * its manifest.
   */
  PushCheckpoint(argument: _criu_agent_v1_PushCheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_PushCheckpointResponse__Output>): grpc.ClientUnaryCall;
  PushCheckpoint(argument: _criu_agent_v1_PushCheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_PushCheckpointResponse__Output>): grpc.ClientUnaryCall;
  PushCheckpoint(argument: _criu_agent_v1_PushCheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_PushCheckpointResponse__Output>): grpc.ClientUnaryCall;
  PushCheckpoint(argument: _criu_agent_v1_PushCheckpointRequest, callback: grpc.requestCallback<_criu_agent_v1_PushCheckpointResponse__Output>): grpc.ClientUnaryCall;
  /**
   * PushCheckpoint uploads a checkpoint, with the pre-dumps it builds on, to
   * an OCI registry as an image (docs/registry.md): only the files the
   * registry lacks are sent. The checkpoint stays here, untouched.
   * UNAVAILABLE when the registry cannot be reached (after retries),
   * UNAUTHENTICATED / PERMISSION_DENIED with the registry's words when it
   * refuses the node's credentials, DATA_LOSS when a file no longer matches
   * its manifest.
   */
  pushCheckpoint(argument: _criu_agent_v1_PushCheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_PushCheckpointResponse__Output>): grpc.ClientUnaryCall;
  pushCheckpoint(argument: _criu_agent_v1_PushCheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_PushCheckpointResponse__Output>): grpc.ClientUnaryCall;
  pushCheckpoint(argument: _criu_agent_v1_PushCheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_PushCheckpointResponse__Output>): grpc.ClientUnaryCall;
  pushCheckpoint(argument: _criu_agent_v1_PushCheckpointRequest, callback: grpc.requestCallback<_criu_agent_v1_PushCheckpointResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * ReceiveMigration is the destination's side of Migrate, called by the
   * source agent (never by controllers): the source offers the tree, the
   * destination checks it can take it and starts a CRIU page server, the
   * page server's traffic and the other images travel in this call, then
   * the destination restores the tree STOPPED, and applies the final state
   * once the source says it killed its copy. The call is the session: when it
   * ends before the destination reported the tree restored, the destination
   * removes everything it received and kills anything it restored. The
   * destination's policy decides who may call it (it imports and restores).
   */
  ReceiveMigration(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_criu_agent_v1_MigrationStep, _criu_agent_v1_MigrationReply__Output>;
  ReceiveMigration(options?: grpc.CallOptions): grpc.ClientDuplexStream<_criu_agent_v1_MigrationStep, _criu_agent_v1_MigrationReply__Output>;
  /**
   * ReceiveMigration is the destination's side of Migrate, called by the
   * source agent (never by controllers): the source offers the tree, the
   * destination checks it can take it and starts a CRIU page server, the
   * page server's traffic and the other images travel in this call, then
   * the destination restores the tree STOPPED, and applies the final state
   * once the source says it killed its copy. The call is the session: when it
   * ends before the destination reported the tree restored, the destination
   * removes everything it received and kills anything it restored. The
   * destination's policy decides who may call it (it imports and restores).
   */
  receiveMigration(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_criu_agent_v1_MigrationStep, _criu_agent_v1_MigrationReply__Output>;
  receiveMigration(options?: grpc.CallOptions): grpc.ClientDuplexStream<_criu_agent_v1_MigrationStep, _criu_agent_v1_MigrationReply__Output>;
  
  /**
   * Restore recreates the tree saved in a Dump checkpoint, with its original
   * pids. The tree ends RUNNING unless `final_state` asks for STOPPED. The
   * restored tree does not depend on the agent: restarting the agent leaves it
   * alone.
   */
  Restore(argument: _criu_agent_v1_RestoreRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_RestoreResponse__Output>): grpc.ClientUnaryCall;
  Restore(argument: _criu_agent_v1_RestoreRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_RestoreResponse__Output>): grpc.ClientUnaryCall;
  Restore(argument: _criu_agent_v1_RestoreRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_RestoreResponse__Output>): grpc.ClientUnaryCall;
  Restore(argument: _criu_agent_v1_RestoreRequest, callback: grpc.requestCallback<_criu_agent_v1_RestoreResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Restore recreates the tree saved in a Dump checkpoint, with its original
   * pids. The tree ends RUNNING unless `final_state` asks for STOPPED. The
   * restored tree does not depend on the agent: restarting the agent leaves it
   * alone.
   */
  restore(argument: _criu_agent_v1_RestoreRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_RestoreResponse__Output>): grpc.ClientUnaryCall;
  restore(argument: _criu_agent_v1_RestoreRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_criu_agent_v1_RestoreResponse__Output>): grpc.ClientUnaryCall;
  restore(argument: _criu_agent_v1_RestoreRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_criu_agent_v1_RestoreResponse__Output>): grpc.ClientUnaryCall;
  restore(argument: _criu_agent_v1_RestoreRequest, callback: grpc.requestCallback<_criu_agent_v1_RestoreResponse__Output>): grpc.ClientUnaryCall;
  
}

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
export interface CheckpointAgentHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Check reports the CRIU this agent drives and the kernel features that
   * decide what it can do, so a caller can decide before it asks.
   */
  Check: grpc.handleUnaryCall<_criu_agent_v1_CheckRequest__Output, _criu_agent_v1_CheckResponse>;
  
  /**
   * Continue resumes a tree left STOPPED (by Dump, Restore or anyone else):
   * SIGCONT to every process of the tree. FAILED_PRECONDITION when the tree
   * is not stopped.
   */
  Continue: grpc.handleUnaryCall<_criu_agent_v1_ContinueRequest__Output, _criu_agent_v1_ContinueResponse>;
  
  /**
   * DeleteCheckpoint removes a checkpoint. A checkpoint that others are built
   * on (their parent) is refused with FAILED_PRECONDITION unless `cascade`
   * is set, which deletes those too.
   */
  DeleteCheckpoint: grpc.handleUnaryCall<_criu_agent_v1_DeleteCheckpointRequest__Output, _criu_agent_v1_DeleteCheckpointResponse>;
  
  /**
   * Dump checkpoints the tree rooted at `pid` into a new checkpoint. The tree
   * ends DEAD (killed) unless `final_state` asks for RUNNING or STOPPED.
   */
  Dump: grpc.handleUnaryCall<_criu_agent_v1_DumpRequest__Output, _criu_agent_v1_DumpResponse>;
  
  /**
   * ExportCheckpoint streams a checkpoint out of this node: for each
   * checkpoint (with `include_parents`, the pre-dumps it builds on first,
   * oldest first), a `manifest` chunk, then its files' bytes in `data`
   * chunks, in manifest order. What it streams is exactly what
   * ImportCheckpoint takes, so `grpcurl ... ExportCheckpoint | grpcurl -d @
   * ... ImportCheckpoint` moves a checkpoint between nodes. Files are checked
   * against this node's digests while they are read: DATA_LOSS when one
   * changed since the dump.
   */
  ExportCheckpoint: grpc.handleServerStreamingCall<_criu_agent_v1_ExportCheckpointRequest__Output, _criu_agent_v1_CheckpointChunk>;
  
  /**
   * GetCheckpoint describes one checkpoint: its manifest.
   */
  GetCheckpoint: grpc.handleUnaryCall<_criu_agent_v1_GetCheckpointRequest__Output, _criu_agent_v1_Checkpoint>;
  
  /**
   * ImportCheckpoint stores the checkpoints of a stream made by
   * ExportCheckpoint. Files are written into a hidden temporary directory and
   * hashed as they arrive; the checkpoints are listed only once every file of
   * every one of them matched the sender's manifest (size and XXH64 digest),
   * all of them or none. ALREADY_EXISTS when a checkpoint id is taken,
   * FAILED_PRECONDITION when a parent is neither on this node nor earlier in
   * the stream, RESOURCE_EXHAUSTED when the state directory lacks the space
   * (checked before anything is written, and on ENOSPC), DATA_LOSS when a file
   * does not match its digest or the stream ends early, INVALID_ARGUMENT for a
   * malformed stream. Returns the (last) checkpoint as stored here.
   */
  ImportCheckpoint: grpc.handleClientStreamingCall<_criu_agent_v1_CheckpointChunk__Output, _criu_agent_v1_Checkpoint>;
  
  /**
   * ListCheckpoints lists the complete checkpoints on this node, oldest
   * first. Checkpoints being written, and failed ones, are never listed.
   */
  ListCheckpoints: grpc.handleUnaryCall<_criu_agent_v1_ListCheckpointsRequest__Output, _criu_agent_v1_ListCheckpointsResponse>;
  
  /**
   * Migrate moves the running tree rooted at `pid` to the agent at
   * `destination`; called on the source agent, it streams one event per step
   * and ends with the result. Before the tree is frozen the destination is
   * asked whether it can take it (reachable, authorized for
   * ReceiveMigration, the CRIU version, the kernel features the mode needs,
   * a compatible CPU by CRIU's cpuinfo check, its pids free, the space): a
   * refusal costs the workload nothing. Stop-and-copy then dumps the tree,
   * its pages going straight to a CRIU page server on the destination (the
   * source writes none), the other images following as a checkpoint stream;
   * the destination restores the tree STOPPED, the source kills its copy,
   * and the destination leaves it in `final_state`. Until the destination
   * reported the tree restored, any failure (refusal, lost connection,
   * destination CRIU failing, deadline, cancel) resumes the tree on the
   * source and leaves nothing on the destination; the error says so.
   * PRE_COPY needs kernel memory tracking and POST_COPY lazy pages on both
   * nodes: FAILED_PRECONDITION, before anything is frozen, where either lacks
   * them (and, in this version, where they are present: only stop-and-copy
   * is implemented).
   */
  Migrate: grpc.handleServerStreamingCall<_criu_agent_v1_MigrateRequest__Output, _criu_agent_v1_MigrateEvent>;
  
  /**
   * PreDump copies the tree's memory into a new checkpoint while it keeps
   * running, so that a later Dump with `parent_checkpoint_id` only has to save
   * what changed since. Needs kernel memory tracking (soft-dirty bits):
   * FAILED_PRECONDITION where the kernel lacks it.
   */
  PreDump: grpc.handleUnaryCall<_criu_agent_v1_PreDumpRequest__Output, _criu_agent_v1_PreDumpResponse>;
  
  /**
   * PullCheckpoint downloads a checkpoint image into this node's store. Every
   * blob is checked against its sha256 and every file against the agent's
   * own digests while it is written; nothing is listed unless all matched
   * (DATA_LOSS otherwise). It can then be restored like any other.
   */
  PullCheckpoint: grpc.handleUnaryCall<_criu_agent_v1_PullCheckpointRequest__Output, _criu_agent_v1_Checkpoint>;
  
  /**
   * PushCheckpoint uploads a checkpoint, with the pre-dumps it builds on, to
   * an OCI registry as an image (docs/registry.md): only the files the
   * registry lacks are sent. The checkpoint stays here, untouched.
   * UNAVAILABLE when the registry cannot be reached (after retries),
   * UNAUTHENTICATED / PERMISSION_DENIED with the registry's words when it
   * refuses the node's credentials, DATA_LOSS when a file no longer matches
   * its manifest.
   */
  PushCheckpoint: grpc.handleUnaryCall<_criu_agent_v1_PushCheckpointRequest__Output, _criu_agent_v1_PushCheckpointResponse>;
  
  /**
   * ReceiveMigration is the destination's side of Migrate, called by the
   * source agent (never by controllers): the source offers the tree, the
   * destination checks it can take it and starts a CRIU page server, the
   * page server's traffic and the other images travel in this call, then
   * the destination restores the tree STOPPED, and applies the final state
   * once the source says it killed its copy. The call is the session: when it
   * ends before the destination reported the tree restored, the destination
   * removes everything it received and kills anything it restored. The
   * destination's policy decides who may call it (it imports and restores).
   */
  ReceiveMigration: grpc.handleBidiStreamingCall<_criu_agent_v1_MigrationStep__Output, _criu_agent_v1_MigrationReply>;
  
  /**
   * Restore recreates the tree saved in a Dump checkpoint, with its original
   * pids. The tree ends RUNNING unless `final_state` asks for STOPPED. The
   * restored tree does not depend on the agent: restarting the agent leaves it
   * alone.
   */
  Restore: grpc.handleUnaryCall<_criu_agent_v1_RestoreRequest__Output, _criu_agent_v1_RestoreResponse>;
  
}

export interface CheckpointAgentDefinition extends grpc.ServiceDefinition {
  Check: MethodDefinition<_criu_agent_v1_CheckRequest, _criu_agent_v1_CheckResponse, _criu_agent_v1_CheckRequest__Output, _criu_agent_v1_CheckResponse__Output>
  Continue: MethodDefinition<_criu_agent_v1_ContinueRequest, _criu_agent_v1_ContinueResponse, _criu_agent_v1_ContinueRequest__Output, _criu_agent_v1_ContinueResponse__Output>
  DeleteCheckpoint: MethodDefinition<_criu_agent_v1_DeleteCheckpointRequest, _criu_agent_v1_DeleteCheckpointResponse, _criu_agent_v1_DeleteCheckpointRequest__Output, _criu_agent_v1_DeleteCheckpointResponse__Output>
  Dump: MethodDefinition<_criu_agent_v1_DumpRequest, _criu_agent_v1_DumpResponse, _criu_agent_v1_DumpRequest__Output, _criu_agent_v1_DumpResponse__Output>
  ExportCheckpoint: MethodDefinition<_criu_agent_v1_ExportCheckpointRequest, _criu_agent_v1_CheckpointChunk, _criu_agent_v1_ExportCheckpointRequest__Output, _criu_agent_v1_CheckpointChunk__Output>
  GetCheckpoint: MethodDefinition<_criu_agent_v1_GetCheckpointRequest, _criu_agent_v1_Checkpoint, _criu_agent_v1_GetCheckpointRequest__Output, _criu_agent_v1_Checkpoint__Output>
  ImportCheckpoint: MethodDefinition<_criu_agent_v1_CheckpointChunk, _criu_agent_v1_Checkpoint, _criu_agent_v1_CheckpointChunk__Output, _criu_agent_v1_Checkpoint__Output>
  ListCheckpoints: MethodDefinition<_criu_agent_v1_ListCheckpointsRequest, _criu_agent_v1_ListCheckpointsResponse, _criu_agent_v1_ListCheckpointsRequest__Output, _criu_agent_v1_ListCheckpointsResponse__Output>
  Migrate: MethodDefinition<_criu_agent_v1_MigrateRequest, _criu_agent_v1_MigrateEvent, _criu_agent_v1_MigrateRequest__Output, _criu_agent_v1_MigrateEvent__Output>
  PreDump: MethodDefinition<_criu_agent_v1_PreDumpRequest, _criu_agent_v1_PreDumpResponse, _criu_agent_v1_PreDumpRequest__Output, _criu_agent_v1_PreDumpResponse__Output>
  PullCheckpoint: MethodDefinition<_criu_agent_v1_PullCheckpointRequest, _criu_agent_v1_Checkpoint, _criu_agent_v1_PullCheckpointRequest__Output, _criu_agent_v1_Checkpoint__Output>
  PushCheckpoint: MethodDefinition<_criu_agent_v1_PushCheckpointRequest, _criu_agent_v1_PushCheckpointResponse, _criu_agent_v1_PushCheckpointRequest__Output, _criu_agent_v1_PushCheckpointResponse__Output>
  ReceiveMigration: MethodDefinition<_criu_agent_v1_MigrationStep, _criu_agent_v1_MigrationReply, _criu_agent_v1_MigrationStep__Output, _criu_agent_v1_MigrationReply__Output>
  Restore: MethodDefinition<_criu_agent_v1_RestoreRequest, _criu_agent_v1_RestoreResponse, _criu_agent_v1_RestoreRequest__Output, _criu_agent_v1_RestoreResponse__Output>
}
