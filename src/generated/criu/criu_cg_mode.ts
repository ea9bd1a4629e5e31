// Original file: proto/criu/rpc.proto

export const criu_cg_mode = {
  IGNORE: 'IGNORE',
  CG_NONE: 'CG_NONE',
  PROPS: 'PROPS',
  SOFT: 'SOFT',
  FULL: 'FULL',
  STRICT: 'STRICT',
  DEFAULT: 'DEFAULT',
} as const;

export type criu_cg_mode =
  | 'IGNORE'
  | 0
  | 'CG_NONE'
  | 1
  | 'PROPS'
  | 2
  | 'SOFT'
  | 3
  | 'FULL'
  | 4
  | 'STRICT'
  | 5
  | 'DEFAULT'
  | 6

export type criu_cg_mode__Output = typeof criu_cg_mode[keyof typeof criu_cg_mode]
