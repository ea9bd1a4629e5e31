// Original file: proto/criu_agent/v1/agent.proto

/**
 * How CRIU treats the tree's cgroups (CRIU's --manage-cgroups).
 */
export const CgroupMode = {
  /**
   * CRIU's default (soft).
   */
  CGROUP_MODE_UNSPECIFIED: 'CGROUP_MODE_UNSPECIFIED',
  /**
   * Leave cgroups alone.
   */
  CGROUP_MODE_IGNORE: 'CGROUP_MODE_IGNORE',
  /**
   * Restore the cgroup properties only.
   */
  CGROUP_MODE_PROPS: 'CGROUP_MODE_PROPS',
  /**
   * Create missing cgroups, keep existing ones as they are.
   */
  CGROUP_MODE_SOFT: 'CGROUP_MODE_SOFT',
  /**
   * Create and set up every cgroup.
   */
  CGROUP_MODE_FULL: 'CGROUP_MODE_FULL',
  /**
   * Fail if a cgroup already exists.
   */
  CGROUP_MODE_STRICT: 'CGROUP_MODE_STRICT',
} as const;

/**
 * How CRIU treats the tree's cgroups (CRIU's --manage-cgroups).
 */
export type CgroupMode =
  /**
   * CRIU's default (soft).
   */
  | 'CGROUP_MODE_UNSPECIFIED'
  | 0
  /**
   * Leave cgroups alone.
   */
  | 'CGROUP_MODE_IGNORE'
  | 1
  /**
   * Restore the cgroup properties only.
   */
  | 'CGROUP_MODE_PROPS'
  | 2
  /**
   * Create missing cgroups, keep existing ones as they are.
   */
  | 'CGROUP_MODE_SOFT'
  | 3
  /**
   * Create and set up every cgroup.
   */
  | 'CGROUP_MODE_FULL'
  | 4
  /**
   * Fail if a cgroup already exists.
   */
  | 'CGROUP_MODE_STRICT'
  | 5

/**
 * How CRIU treats the tree's cgroups (CRIU's --manage-cgroups).
 */
export type CgroupMode__Output = typeof CgroupMode[keyof typeof CgroupMode]
