// Original file: proto/criu_agent/v1/agent.proto

export const CheckpointKind = {
  CHECKPOINT_KIND_UNSPECIFIED: 'CHECKPOINT_KIND_UNSPECIFIED',
  /**
   * A full checkpoint made by Dump: it can be restored.
   */
  CHECKPOINT_KIND_DUMP: 'CHECKPOINT_KIND_DUMP',
  /**
   * Memory only, made by PreDump: a parent for a later Dump.
   */
  CHECKPOINT_KIND_PRE_DUMP: 'CHECKPOINT_KIND_PRE_DUMP',
} as const;

export type CheckpointKind =
  | 'CHECKPOINT_KIND_UNSPECIFIED'
  | 0
  /**
   * A full checkpoint made by Dump: it can be restored.
   */
  | 'CHECKPOINT_KIND_DUMP'
  | 1
  /**
   * Memory only, made by PreDump: a parent for a later Dump.
   */
  | 'CHECKPOINT_KIND_PRE_DUMP'
  | 2

export type CheckpointKind__Output = typeof CheckpointKind[keyof typeof CheckpointKind]
