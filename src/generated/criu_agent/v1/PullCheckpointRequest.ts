// Original file: proto/criu_agent/v1/agent.proto


export interface PullCheckpointRequest {
  /**
   * What to pull: registry/repository:tag or registry/repository@sha256:<hex>.
   */
  'reference'?: (string);
  /**
   * The local id of the pulled checkpoint. Default: the reference's tag when
   * it is a valid checkpoint id other than "latest", else the id the image
   * records. Pre-dumps it builds on keep their ids.
   */
  'checkpoint_id'?: (string);
}

export interface PullCheckpointRequest__Output {
  /**
   * What to pull: registry/repository:tag or registry/repository@sha256:<hex>.
   */
  'reference': (string);
  /**
   * The local id of the pulled checkpoint. Default: the reference's tag when
   * it is a valid checkpoint id other than "latest", else the id the image
   * records. Pre-dumps it builds on keep their ids.
   */
  'checkpoint_id': (string);
}
