// Original file: proto/criu_agent/v1/agent.proto

/**
 * How Migrate moves a tree.
 */
export const MigrateMode = {
  /**
   * The best mode both nodes support (in this version: stop-and-copy).
   */
  MIGRATE_MODE_UNSPECIFIED: 'MIGRATE_MODE_UNSPECIFIED',
  /**
   * Freeze, dump (pages straight to the destination), restore there.
   */
  MIGRATE_MODE_STOP_AND_COPY: 'MIGRATE_MODE_STOP_AND_COPY',
  /**
   * Pre-dump rounds while the tree runs, then a final dump of what changed.
   * Needs kernel memory tracking on both nodes.
   */
  MIGRATE_MODE_PRE_COPY: 'MIGRATE_MODE_PRE_COPY',
  /**
   * Restore at once, fetching memory on demand (lazy pages). Needs
   * userfaultfd lazy pages on both nodes.
   */
  MIGRATE_MODE_POST_COPY: 'MIGRATE_MODE_POST_COPY',
} as const;

/**
 * How Migrate moves a tree.
 */
export type MigrateMode =
  /**
   * The best mode both nodes support (in this version: stop-and-copy).
   */
  | 'MIGRATE_MODE_UNSPECIFIED'
  | 0
  /**
   * Freeze, dump (pages straight to the destination), restore there.
   */
  | 'MIGRATE_MODE_STOP_AND_COPY'
  | 1
  /**
   * Pre-dump rounds while the tree runs, then a final dump of what changed.
   * Needs kernel memory tracking on both nodes.
   */
  | 'MIGRATE_MODE_PRE_COPY'
  | 2
  /**
   * Restore at once, fetching memory on demand (lazy pages). Needs
   * userfaultfd lazy pages on both nodes.
   */
  | 'MIGRATE_MODE_POST_COPY'
  | 3

/**
 * How Migrate moves a tree.
 */
export type MigrateMode__Output = typeof MigrateMode[keyof typeof MigrateMode]
