// Original file: proto/criu_agent/v1/agent.proto

import type { Checkpoint as _criu_agent_v1_Checkpoint, Checkpoint__Output as _criu_agent_v1_Checkpoint__Output } from '../../criu_agent/v1/Checkpoint';

export interface ListCheckpointsResponse {
  /**
   * Oldest first.
   */
  'checkpoints'?: (_criu_agent_v1_Checkpoint)[];
}

export interface ListCheckpointsResponse__Output {
  /**
   * Oldest first.
   */
  'checkpoints': (_criu_agent_v1_Checkpoint__Output)[];
}
