// Original file: proto/criu_agent/v1/agent.proto

import type { Checkpoint as _criu_agent_v1_Checkpoint, Checkpoint__Output as _criu_agent_v1_Checkpoint__Output } from '../../criu_agent/v1/Checkpoint';
import type { ManifestFile as _criu_agent_v1_ManifestFile, ManifestFile__Output as _criu_agent_v1_ManifestFile__Output } from '../../criu_agent/v1/ManifestFile';

/**
 * What a checkpoint is, and every file it holds with its digest.
 */
export interface CheckpointManifest {
  /**
   * The checkpoint as GetCheckpoint describes it on the sending node
   * (images_dir and children are the sender's and are ignored on import).
   */
  'checkpoint'?: (_criu_agent_v1_Checkpoint | null);
  /**
   * Every file of the checkpoint (CRIU's images, and the "parent" symlink of
   * an incremental dump), in the order their data follows.
   */
  'files'?: (_criu_agent_v1_ManifestFile)[];
}

/**
 * What a checkpoint is, and every file it holds with its digest.
 */
export interface CheckpointManifest__Output {
  /**
   * The checkpoint as GetCheckpoint describes it on the sending node
   * (images_dir and children are the sender's and are ignored on import).
   */
  'checkpoint': (_criu_agent_v1_Checkpoint__Output | null);
  /**
   * Every file of the checkpoint (CRIU's images, and the "parent" symlink of
   * an incremental dump), in the order their data follows.
   */
  'files': (_criu_agent_v1_ManifestFile__Output)[];
}
