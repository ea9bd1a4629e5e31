import * as path from 'node:path';
import { packageRoot } from '../paths';

/** What the N-API addon built from src/native/seqpacket.cc (npm run build:native) exports. */
export interface NativeAddon {
  socketpair(): [number, number];
  connect(socketPath: string): number;
  send(fd: number, data: Uint8Array): void;
  startReceiving(fd: number, callback: (err: unknown, data: Uint8Array | null) => void): { stop(): void };
  close(fd: number): void;
  /** SO_PEERCRED of a connected AF_UNIX socket. */
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  /** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another holder has it. */
  tryLockExclusive(fd: number): boolean;
}

export const ADDON_FILE = path.join(packageRoot, 'src', 'native', 'build', 'Release', 'seqpacket.node');

let addon: NativeAddon | undefined;

/** Loads the addon once; throws the loader's error (the callers say what they needed it for). */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const mod: { exports: unknown } = { exports: {} };
  process.dlopen(mod, ADDON_FILE);
  addon = mod.exports as NativeAddon;
  return addon;
}
