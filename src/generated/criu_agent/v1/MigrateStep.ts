// Original file: proto/criu_agent/v1/agent.proto

/**
 * One step of a migration, as it happens.
 */
export const MigrateStep = {
  MIGRATE_STEP_UNSPECIFIED: 'MIGRATE_STEP_UNSPECIFIED',
  /**
   * The destination accepted the tree (every check passed); nothing frozen yet.
   */
  MIGRATE_STEP_ACCEPTED: 'MIGRATE_STEP_ACCEPTED',
  /**
   * A pre-dump round finished (round, pages_written, duration_us).
   */
  MIGRATE_STEP_PRE_DUMP_ROUND: 'MIGRATE_STEP_PRE_DUMP_ROUND',
  /**
   * The final dump finished: the tree is frozen, then stopped, on the source
   * (duration_us: the dump; bytes: the pages sent to the page server).
   */
  MIGRATE_STEP_DUMPED: 'MIGRATE_STEP_DUMPED',
  /**
   * The other images went to the destination (bytes, duration_us).
   */
  MIGRATE_STEP_TRANSFERRED: 'MIGRATE_STEP_TRANSFERRED',
  /**
   * The destination restored the tree, stopped (duration_us: the restore).
   */
  MIGRATE_STEP_RESTORED: 'MIGRATE_STEP_RESTORED',
  /**
   * The source killed its copy; the destination applied the final state.
   */
  MIGRATE_STEP_DONE: 'MIGRATE_STEP_DONE',
} as const;

/**
 * One step of a migration, as it happens.
 */
export type MigrateStep =
  | 'MIGRATE_STEP_UNSPECIFIED'
  | 0
  /**
   * The destination accepted the tree (every check passed); nothing frozen yet.
   */
  | 'MIGRATE_STEP_ACCEPTED'
  | 1
  /**
   * A pre-dump round finished (round, pages_written, duration_us).
   */
  | 'MIGRATE_STEP_PRE_DUMP_ROUND'
  | 2
  /**
   * The final dump finished: the tree is frozen, then stopped, on the source
   * (duration_us: the dump; bytes: the pages sent to the page server).
   */
  | 'MIGRATE_STEP_DUMPED'
  | 3
  /**
   * The other images went to the destination (bytes, duration_us).
   */
  | 'MIGRATE_STEP_TRANSFERRED'
  | 4
  /**
   * The destination restored the tree, stopped (duration_us: the restore).
   */
  | 'MIGRATE_STEP_RESTORED'
  | 5
  /**
   * The source killed its copy; the destination applied the final state.
   */
  | 'MIGRATE_STEP_DONE'
  | 6

/**
 * One step of a migration, as it happens.
 */
export type MigrateStep__Output = typeof MigrateStep[keyof typeof MigrateStep]
