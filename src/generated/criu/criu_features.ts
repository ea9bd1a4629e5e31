// Original file: proto/criu/rpc.proto


/**
 * In a FEATURE_CHECK request, set the features to ask about to true.
 */
export interface criu_features {
  'mem_track'?: (boolean);
  'lazy_pages'?: (boolean);
  'pidfd_store'?: (boolean);
}

/**
 * In a FEATURE_CHECK request, set the features to ask about to true.
 */
export interface criu_features__Output {
  'mem_track': (boolean);
  'lazy_pages': (boolean);
  'pidfd_store': (boolean);
}
