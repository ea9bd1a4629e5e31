/**
 * Everything the agent knows about live processes, read from /proc.
 * All readers are async and never shell out.
 */
export {
  type TaskState,
  type TaskInfo,
  type ProcessInfo,
  type ProcStat,
  PF_KTHREAD,
  PF_EXITING,
  ProcStatParseError,
  parseStat,
  mapTaskState,
  isExitedTask,
  isZombieProcess,
  readStat,
  readStartTime,
  readProcess,
  readTaskChildren,
  pidInUse,
  waitForPidFree,
  isKernelThread,
  sessionInfo,
  bootTicksNow,
  killProcessesSince,
  findMarkedProcesses,
  type MarkedProcess,
} from './procfs';
export { type TreeSnapshot, type TreeStatus, snapshotTree, treeStatus, waitForTreeStatus } from './tree';
export { signalTree, continueTree } from './signals';
export { estimateMemoryBytes, readCommandLine } from './memory';
