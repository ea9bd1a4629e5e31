// Original file: proto/criu_agent/v1/agent.proto

import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';

export interface MigrationDone {
  'final_state'?: (_criu_agent_v1_FinalState);
}

export interface MigrationDone__Output {
  'final_state': (_criu_agent_v1_FinalState__Output);
}
