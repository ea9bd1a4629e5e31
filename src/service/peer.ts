import type { MigrationReply__Output } from '../generated/criu_agent/v1/MigrationReply';
import type { MigrationStep } from '../generated/criu_agent/v1/MigrationStep';

/**
 * One ReceiveMigration call to a destination agent, as the source's Migrate
 * drives it. The call is the migration session on the destination: cancel()
 * (or a lost connection) makes the destination undo what it did.
 */
export interface PeerSession {
  /** Sends the next step; resolves once the transport took it (flow control). */
  send(step: MigrationStep): Promise<void>;
  /**
   * The next reply; null when the destination ended the call with OK.
   * Rejects with an AgentError carrying the destination's status when it
   * refused or failed, or UNAVAILABLE when the connection was lost.
   */
  receive(): Promise<MigrationReply__Output | null>;
  /** Half-closes: no more steps. */
  end(): void;
  /** Abandons the call (idempotent). */
  cancel(): void;
}

/** Opens sessions to other agents (by address: host:port or unix:/path). */
export interface PeerConnector {
  open(address: string, signal?: AbortSignal): PeerSession;
}
