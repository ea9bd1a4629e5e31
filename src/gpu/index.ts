export * from './driver';
export { CudaDriver, type CudaAddon } from './cuda';
export { findGpuProcesses, findParkedGpuProcesses, touchesNvidiaDevice, nvidiaDeviceUsers, type GpuProcess } from './discover';
