// Shared helpers for the outbox tests: waiting for a state (never for a time) and a controllable clock.
import { openStore, openTasks, type OpenTasksOptions, type Store, type Tasks } from 'purser';

/**
 * Polls `condition` until it holds. The 5 ms between polls only sets how soon the test notices; no verdict
 * depends on it. There is no time cap: any cap can expire on a busy enough machine, so a wait that never
 * ends is left to the test runner. `what` names the state in the error if checking it fails.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (;;) {
    let holds: boolean;
    try {
      holds = await condition();
    } catch (error) {
      throw new Error(`checking for ${what} failed`, { cause: error });
    }
    if (holds) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A clock the test moves by hand. */
export function manualClock(startMs = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let nowMs = startMs;
  return { now: () => nowMs, advance: (ms) => (nowMs += ms) };
}

export const quietLogger = { error: () => {}, warn: () => {} };

export async function memoryTasks(options: Partial<OpenTasksOptions> = {}): Promise<{ store: Store; tasks: Tasks; close: () => Promise<void> }> {
  const store = await openStore();
  const tasks = await openTasks({ store, logger: quietLogger, ...options });
  return {
    store,
    tasks,
    close: async () => {
      await tasks.stop({ drainTimeoutMs: 1000 });
      await store.close();
    },
  };
}

export function bytes(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}
