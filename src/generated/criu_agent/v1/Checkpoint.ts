// Original file: proto/criu_agent/v1/agent.proto

import type { CheckpointKind as _criu_agent_v1_CheckpointKind, CheckpointKind__Output as _criu_agent_v1_CheckpointKind__Output } from '../../criu_agent/v1/CheckpointKind';
import type { FinalState as _criu_agent_v1_FinalState, FinalState__Output as _criu_agent_v1_FinalState__Output } from '../../criu_agent/v1/FinalState';
import type { DumpStats as _criu_agent_v1_DumpStats, DumpStats__Output as _criu_agent_v1_DumpStats__Output } from '../../criu_agent/v1/DumpStats';
import type { Long } from '@grpc/proto-loader';

/**
 * A checkpoint's manifest, written last when the checkpoint was made.
 */
export interface Checkpoint {
  'checkpoint_id'?: (string);
  'kind'?: (_criu_agent_v1_CheckpointKind);
  /**
   * The pre-dump this checkpoint builds on; empty for none.
   */
  'parent_checkpoint_id'?: (string);
  /**
   * Root pid of the tree, and every pid checkpointed (root first).
   */
  'pid'?: (number);
  'pids'?: (number)[];
  /**
   * The root's command line when it was checkpointed.
   */
  'command_line'?: (string)[];
  /**
   * When the checkpoint was made (RFC 3339, UTC).
   */
  'created_at'?: (string);
  /**
   * The CRIU and kernel that made it.
   */
  'criu_version'?: (string);
  'kernel'?: (string);
  /**
   * The state the tree was left in.
   */
  'final_state'?: (_criu_agent_v1_FinalState);
  /**
   * Bytes and files of the checkpoint (without its parents).
   */
  'size_bytes'?: (number | string | Long);
  'file_count'?: (number);
  'stats'?: (_criu_agent_v1_DumpStats | null);
  /**
   * Where its images are on this node.
   */
  'images_dir'?: (string);
  /**
   * Checkpoints built on this one (whose parent it is).
   */
  'children'?: (string)[];
  /**
   * How the files' integrity is checked at restore, e.g. "xxh64".
   */
  'digest_algorithm'?: (string);
  /**
   * The request id (x-request-id) of the call that made it: a client whose
   * Dump ended in DEADLINE_EXCEEDED, CANCELLED or a lost connection finds
   * here whether the Dump completed after all (a retry with the same
   * x-request-id also returns the first call's result).
   */
  'request_id'?: (string);
}

/**
 * A checkpoint's manifest, written last when the checkpoint was made.
 */
export interface Checkpoint__Output {
  'checkpoint_id': (string);
  'kind': (_criu_agent_v1_CheckpointKind__Output);
  /**
   * The pre-dump this checkpoint builds on; empty for none.
   */
  'parent_checkpoint_id': (string);
  /**
   * Root pid of the tree, and every pid checkpointed (root first).
   */
  'pid': (number);
  'pids': (number)[];
  /**
   * The root's command line when it was checkpointed.
   */
  'command_line': (string)[];
  /**
   * When the checkpoint was made (RFC 3339, UTC).
   */
  'created_at': (string);
  /**
   * The CRIU and kernel that made it.
   */
  'criu_version': (string);
  'kernel': (string);
  /**
   * The state the tree was left in.
   */
  'final_state': (_criu_agent_v1_FinalState__Output);
  /**
   * Bytes and files of the checkpoint (without its parents).
   */
  'size_bytes': (string);
  'file_count': (number);
  'stats': (_criu_agent_v1_DumpStats__Output | null);
  /**
   * Where its images are on this node.
   */
  'images_dir': (string);
  /**
   * Checkpoints built on this one (whose parent it is).
   */
  'children': (string)[];
  /**
   * How the files' integrity is checked at restore, e.g. "xxh64".
   */
  'digest_algorithm': (string);
  /**
   * The request id (x-request-id) of the call that made it: a client whose
   * Dump ended in DEADLINE_EXCEEDED, CANCELLED or a lost connection finds
   * here whether the Dump completed after all (a retry with the same
   * x-request-id also returns the first call's result).
   */
  'request_id': (string);
}
