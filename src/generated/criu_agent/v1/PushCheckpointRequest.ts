// Original file: proto/criu_agent/v1/agent.proto


export interface PushCheckpointRequest {
  /**
   * The checkpoint to push; the pre-dumps it builds on go with it.
   */
  'checkpoint_id'?: (string);
  /**
   * Where to: registry/repository:tag, e.g. "registry.example:5000/team/web:ckpt-42".
   * Registries are reached over HTTPS unless the agent's --registry-insecure
   * names them; credentials come from the node's auth file.
   */
  'reference'?: (string);
}

export interface PushCheckpointRequest__Output {
  /**
   * The checkpoint to push; the pre-dumps it builds on go with it.
   */
  'checkpoint_id': (string);
  /**
   * Where to: registry/repository:tag, e.g. "registry.example:5000/team/web:ckpt-42".
   * Registries are reached over HTTPS unless the agent's --registry-insecure
   * names them; credentials come from the node's auth file.
   */
  'reference': (string);
}
