// Original file: proto/criu/rpc.proto

export const criu_network_lock_method = {
  IPTABLES: 'IPTABLES',
  NFTABLES: 'NFTABLES',
  SKIP: 'SKIP',
} as const;

export type criu_network_lock_method =
  | 'IPTABLES'
  | 1
  | 'NFTABLES'
  | 2
  | 'SKIP'
  | 3

export type criu_network_lock_method__Output = typeof criu_network_lock_method[keyof typeof criu_network_lock_method]
