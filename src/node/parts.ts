/**
 * The parts of a node, started in order and closed in reverse: a part starts on top of the ones before it
 * (the ledger on the store, the listeners on the bus and the ledger), so it must stop before them.
 *
 * If a part fails to start, the ones already started are closed, newest first, and the start error is
 * what the caller gets. Closing closes every part even when one of them fails to close (a part that
 * cannot stop must not keep the store open), and then throws the first failure.
 */
import { asError } from '../errors.js';
import type { Logger } from './logger.js';

interface StartedPart {
  readonly name: string;
  readonly close: () => Promise<unknown>;
}

export class NodeParts {
  private readonly started: StartedPart[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  /** Starts one part; `close` is how to stop it, run once by `closeAll`. */
  async start<T>(name: string, open: () => Promise<T>, close: (part: T) => Promise<unknown>): Promise<T> {
    let part: T;
    try {
      part = await open();
    } catch (error) {
      await this.closeAll().catch((closeError: unknown) => this.logger.error({ err: closeError }, `closing the started parts after ${name} failed to start`));
      throw error;
    }
    this.started.push({ name, close: () => close(part) });
    return part;
  }

  /** Closes every started part, newest first. Safe to call more than once: later calls share the first. */
  closeAll(): Promise<void> {
    this.closing ??= this.closeInReverse();
    return this.closing;
  }

  private async closeInReverse(): Promise<void> {
    let firstFailure: Error | undefined;
    for (const part of this.started.splice(0).reverse()) {
      try {
        await part.close();
      } catch (error) {
        this.logger.error({ err: error, part: part.name }, 'a part of the node failed to close');
        firstFailure ??= asError(error);
      }
    }
    if (firstFailure !== undefined) throw firstFailure;
  }
}
