// Original file: proto/criu_agent/v1/agent.proto

/**
 * How CRIU locks the network while it dumps or restores TCP connections
 * (CRIU's --network-lock).
 */
export const NetworkLock = {
  /**
   * CRIU's default (iptables).
   */
  NETWORK_LOCK_UNSPECIFIED: 'NETWORK_LOCK_UNSPECIFIED',
  NETWORK_LOCK_IPTABLES: 'NETWORK_LOCK_IPTABLES',
  NETWORK_LOCK_NFTABLES: 'NETWORK_LOCK_NFTABLES',
  /**
   * Do not lock; the caller makes sure no packets arrive.
   */
  NETWORK_LOCK_SKIP: 'NETWORK_LOCK_SKIP',
} as const;

/**
 * How CRIU locks the network while it dumps or restores TCP connections
 * (CRIU's --network-lock).
 */
export type NetworkLock =
  /**
   * CRIU's default (iptables).
   */
  | 'NETWORK_LOCK_UNSPECIFIED'
  | 0
  | 'NETWORK_LOCK_IPTABLES'
  | 1
  | 'NETWORK_LOCK_NFTABLES'
  | 2
  /**
   * Do not lock; the caller makes sure no packets arrive.
   */
  | 'NETWORK_LOCK_SKIP'
  | 3

/**
 * How CRIU locks the network while it dumps or restores TCP connections
 * (CRIU's --network-lock).
 */
export type NetworkLock__Output = typeof NetworkLock[keyof typeof NetworkLock]
