import { readdir, readFile, readlink } from 'node:fs/promises';
import type { GpuDriver, GpuProcessState } from './driver';

/** True when pid has a /dev/nvidia* device open or mapped (the cheap pre-filter before asking the driver). */
export async function touchesNvidiaDevice(pid: number, procRoot = '/proc'): Promise<boolean> {
  let fds: string[] = [];
  try {
    fds = await readdir(`${procRoot}/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if ((await readlink(`${procRoot}/${pid}/fd/${fd}`)).startsWith('/dev/nvidia')) return true;
    } catch {
      // closed while we looked
    }
  }
  try {
    return (await readFile(`${procRoot}/${pid}/maps`, 'utf8')).includes(' /dev/nvidia');
  } catch {
    return false;
  }
}

/** A process of a tree that the driver knows as a CUDA process, with its state when asked. */
export interface GpuProcess {
  pid: number;
  state: GpuProcessState;
}

/**
 * The processes of a tree that hold CUDA state: those with /dev/nvidia* in
 * their fds or maps, confirmed with cuCheckpointProcessGetState (a process
 * that merely opened the device without cuInit is not one).
 */
export async function findGpuProcesses(driver: GpuDriver, pids: readonly number[], procRoot = '/proc'): Promise<GpuProcess[]> {
  return askDriver(driver, await nvidiaDeviceUsers(pids, procRoot));
}

/** The pids among `pids` with /dev/nvidia* open or mapped; asks no driver. */
export async function nvidiaDeviceUsers(pids: readonly number[], procRoot = '/proc'): Promise<number[]> {
  const touching = await Promise.all(pids.map((pid) => touchesNvidiaDevice(pid, procRoot)));
  return pids.filter((_, i) => touching[i]);
}

/**
 * The processes of a tree whose GPU state the driver holds in host memory or
 * locks: after Checkpoint a process has no /dev/nvidia* fd left, so every pid
 * is asked directly.
 */
export function findParkedGpuProcesses(driver: GpuDriver, pids: readonly number[]): GpuProcess[] {
  return askDriver(driver, pids).filter((p) => p.state === 'locked' || p.state === 'checkpointed');
}

function askDriver(driver: GpuDriver, pids: readonly number[]): GpuProcess[] {
  const out: GpuProcess[] = [];
  for (const pid of pids) {
    try {
      out.push({ pid, state: driver.getState(pid) });
    } catch {
      // not a CUDA process (or gone)
    }
  }
  return out;
}
