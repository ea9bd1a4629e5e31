// Original file: proto/criu_agent/v1/agent.proto

import type { MigrationAccepted as _criu_agent_v1_MigrationAccepted, MigrationAccepted__Output as _criu_agent_v1_MigrationAccepted__Output } from '../../criu_agent/v1/MigrationAccepted';
import type { MigrationRestored as _criu_agent_v1_MigrationRestored, MigrationRestored__Output as _criu_agent_v1_MigrationRestored__Output } from '../../criu_agent/v1/MigrationRestored';
import type { MigrationDone as _criu_agent_v1_MigrationDone, MigrationDone__Output as _criu_agent_v1_MigrationDone__Output } from '../../criu_agent/v1/MigrationDone';
import type { MigrationPageServerClosed as _criu_agent_v1_MigrationPageServerClosed, MigrationPageServerClosed__Output as _criu_agent_v1_MigrationPageServerClosed__Output } from '../../criu_agent/v1/MigrationPageServerClosed';

/**
 * What the destination answers in ReceiveMigration.
 */
export interface MigrationReply {
  /**
   * The offer is accepted, and a page server is running.
   */
  'accepted'?: (_criu_agent_v1_MigrationAccepted | null);
  /**
   * Bytes the page server sent back to the source's dump.
   */
  'page_server_data'?: (Buffer | Uint8Array | string);
  /**
   * The tree is restored, stopped.
   */
  'restored'?: (_criu_agent_v1_MigrationRestored | null);
  /**
   * The final state is applied: the migration is complete.
   */
  'done'?: (_criu_agent_v1_MigrationDone | null);
  /**
   * The page server closed its connection: after the dump's last request,
   * or because it failed (its disk is full, say). The source closes the
   * dump's connection too, so that a dump still waiting for an answer fails
   * at once instead of waiting for ever.
   */
  'page_server_closed'?: (_criu_agent_v1_MigrationPageServerClosed | null);
  'reply'?: "accepted"|"page_server_data"|"restored"|"done"|"page_server_closed";
}

/**
 * What the destination answers in ReceiveMigration.
 */
export interface MigrationReply__Output {
  /**
   * The offer is accepted, and a page server is running.
   */
  'accepted'?: (_criu_agent_v1_MigrationAccepted__Output | null);
  /**
   * Bytes the page server sent back to the source's dump.
   */
  'page_server_data'?: (Buffer);
  /**
   * The tree is restored, stopped.
   */
  'restored'?: (_criu_agent_v1_MigrationRestored__Output | null);
  /**
   * The final state is applied: the migration is complete.
   */
  'done'?: (_criu_agent_v1_MigrationDone__Output | null);
  /**
   * The page server closed its connection: after the dump's last request,
   * or because it failed (its disk is full, say). The source closes the
   * dump's connection too, so that a dump still waiting for an answer fails
   * at once instead of waiting for ever.
   */
  'page_server_closed'?: (_criu_agent_v1_MigrationPageServerClosed__Output | null);
  'reply'?: "accepted"|"page_server_data"|"restored"|"done"|"page_server_closed";
}
