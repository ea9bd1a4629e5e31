// Original file: proto/criu_agent/v1/agent.proto

import type { Gpu as _criu_agent_v1_Gpu, Gpu__Output as _criu_agent_v1_Gpu__Output } from '../../criu_agent/v1/Gpu';

/**
 * What Check found of NVIDIA's driver (libcuda.so.1, loaded at run time).
 */
export interface GpuCheck {
  /**
   * libcuda.so.1 could be loaded.
   */
  'driver_loaded'?: (boolean);
  /**
   * CUDA version the driver supports, e.g. "12.8"; "none" without a driver.
   */
  'driver_version'?: (string);
  /**
   * cuCheckpointProcess* are there and cuInit succeeded: GPU trees can be
   * dumped and restored.
   */
  'checkpoint_api'?: (boolean);
  /**
   * Why not, when checkpoint_api is false.
   */
  'unavailable_reason'?: (string);
  'gpus'?: (_criu_agent_v1_Gpu)[];
}

/**
 * What Check found of NVIDIA's driver (libcuda.so.1, loaded at run time).
 */
export interface GpuCheck__Output {
  /**
   * libcuda.so.1 could be loaded.
   */
  'driver_loaded': (boolean);
  /**
   * CUDA version the driver supports, e.g. "12.8"; "none" without a driver.
   */
  'driver_version': (string);
  /**
   * cuCheckpointProcess* are there and cuInit succeeded: GPU trees can be
   * dumped and restored.
   */
  'checkpoint_api': (boolean);
  /**
   * Why not, when checkpoint_api is false.
   */
  'unavailable_reason': (string);
  'gpus': (_criu_agent_v1_Gpu__Output)[];
}
