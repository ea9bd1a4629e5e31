// Original file: proto/criu_agent/v1/agent.proto

import type { MigrationOffer as _criu_agent_v1_MigrationOffer, MigrationOffer__Output as _criu_agent_v1_MigrationOffer__Output } from '../../criu_agent/v1/MigrationOffer';
import type { CheckpointChunk as _criu_agent_v1_CheckpointChunk, CheckpointChunk__Output as _criu_agent_v1_CheckpointChunk__Output } from '../../criu_agent/v1/CheckpointChunk';
import type { MigrationRestore as _criu_agent_v1_MigrationRestore, MigrationRestore__Output as _criu_agent_v1_MigrationRestore__Output } from '../../criu_agent/v1/MigrationRestore';
import type { MigrationCommit as _criu_agent_v1_MigrationCommit, MigrationCommit__Output as _criu_agent_v1_MigrationCommit__Output } from '../../criu_agent/v1/MigrationCommit';

/**
 * What the source agent sends in ReceiveMigration, in this order: offer;
 * page_server_data (any number) and page_server_closed; chunk (a checkpoint
 * stream, as ExportCheckpoint's); restore; commit.
 */
export interface MigrationStep {
  'offer'?: (_criu_agent_v1_MigrationOffer | null);
  /**
   * Bytes the source's CRIU dump sent to the page server.
   */
  'page_server_data'?: (Buffer | Uint8Array | string);
  /**
   * The dump closed its page server connection: its pages are all sent.
   */
  'page_server_closed'?: (boolean);
  /**
   * The images the dump wrote on the source.
   */
  'chunk'?: (_criu_agent_v1_CheckpointChunk | null);
  /**
   * Every image was sent: store the checkpoint and restore it, stopped.
   */
  'restore'?: (_criu_agent_v1_MigrationRestore | null);
  /**
   * The source killed its copy of the tree: apply the final state.
   */
  'commit'?: (_criu_agent_v1_MigrationCommit | null);
  'step'?: "offer"|"page_server_data"|"page_server_closed"|"chunk"|"restore"|"commit";
}

/**
 * What the source agent sends in ReceiveMigration, in this order: offer;
 * page_server_data (any number) and page_server_closed; chunk (a checkpoint
 * stream, as ExportCheckpoint's); restore; commit.
 */
export interface MigrationStep__Output {
  'offer'?: (_criu_agent_v1_MigrationOffer__Output | null);
  /**
   * Bytes the source's CRIU dump sent to the page server.
   */
  'page_server_data'?: (Buffer);
  /**
   * The dump closed its page server connection: its pages are all sent.
   */
  'page_server_closed'?: (boolean);
  /**
   * The images the dump wrote on the source.
   */
  'chunk'?: (_criu_agent_v1_CheckpointChunk__Output | null);
  /**
   * Every image was sent: store the checkpoint and restore it, stopped.
   */
  'restore'?: (_criu_agent_v1_MigrationRestore__Output | null);
  /**
   * The source killed its copy of the tree: apply the final state.
   */
  'commit'?: (_criu_agent_v1_MigrationCommit__Output | null);
  'step'?: "offer"|"page_server_data"|"page_server_closed"|"chunk"|"restore"|"commit";
}
