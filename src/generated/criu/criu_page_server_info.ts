// Original file: proto/criu/rpc.proto


/**
 * Where a page server listens (PAGE_SERVER request, and a dump's `ps`), and
 * in a PAGE_SERVER reply the pid and port of the one CRIU started.
 */
export interface criu_page_server_info {
  'address'?: (string);
  'port'?: (number);
  'pid'?: (number);
  'fd'?: (number);
}

/**
 * Where a page server listens (PAGE_SERVER request, and a dump's `ps`), and
 * in a PAGE_SERVER reply the pid and port of the one CRIU started.
 */
export interface criu_page_server_info__Output {
  'address': (string);
  'port': (number);
  'pid': (number);
  'fd': (number);
}
