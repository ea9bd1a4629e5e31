// Original file: proto/criu_agent/v1/agent.proto


export interface ExportCheckpointRequest {
  /**
   * The checkpoint to export.
   */
  'checkpoint_id'?: (string);
  /**
   * Also export the pre-dumps it builds on (its parent, the parent's parent,
   * ...), oldest first; without it the importing node must already hold them.
   */
  'include_parents'?: (boolean);
}

export interface ExportCheckpointRequest__Output {
  /**
   * The checkpoint to export.
   */
  'checkpoint_id': (string);
  /**
   * Also export the pre-dumps it builds on (its parent, the parent's parent,
   * ...), oldest first; without it the importing node must already hold them.
   */
  'include_parents': (boolean);
}
