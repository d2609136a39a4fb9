/**
 * The CLI's own errors: a running node it talks to (`purser admin`, `purser checkpoint --url`) could not be
 * reached or answered something unexpected. The CLI prints the message and exits 1.
 */
import { PurserError } from '../errors.js';

export type AdminErrorCode = 'ADMIN_UNREACHABLE' | 'ADMIN_BAD_RESPONSE' | 'ADMIN_REFUSED';

/**
 * `purser admin`: the node could not be reached, answered something that is not an admin view, or refused
 * the action (an unknown service, a bad argument: the node's own message and code follow).
 */
export class AdminError extends PurserError {
  static override readonly codes: readonly AdminErrorCode[] = ['ADMIN_UNREACHABLE', 'ADMIN_BAD_RESPONSE', 'ADMIN_REFUSED'];
  declare readonly code: AdminErrorCode;

  constructor(code: AdminErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export type CheckpointErrorCode = 'CHECKPOINT_UNREACHABLE' | 'CHECKPOINT_FAILED';

/** `purser checkpoint --url`: the node could not be reached, or did not checkpoint. */
export class CheckpointError extends PurserError {
  static override readonly codes: readonly CheckpointErrorCode[] = ['CHECKPOINT_UNREACHABLE', 'CHECKPOINT_FAILED'];
  declare readonly code: CheckpointErrorCode;

  constructor(code: CheckpointErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
