// Waiting for a state, never for a time (issue 19): a test that sleeps N ms hoping the other side got there
// first fails on a machine busy enough that it did not. These are the bus tests' (and the client test's)
// ways to wait for the fact itself (the store tests use its gate too).

/** A promise the test resolves when it chooses: a handler awaits `wait`, the test calls `open`. */
export interface Gate {
  wait: Promise<void>;
  open: () => void;
  readonly opened: boolean;
}

export function gate(): Gate {
  let resolve!: () => void;
  const wait = new Promise<void>((done) => (resolve = done));
  const result = {
    wait,
    opened: false,
    open: () => {
      result.opened = true;
      resolve();
    },
  };
  return result;
}

/**
 * Gates by name, made on first use by either side: a test may open a gate before the handler that waits on
 * it has started (or before it ever starts), and the handler then passes at once.
 */
export function gates(): { named: (name: string) => Gate; open: (name: string) => void } {
  const byName = new Map<string, Gate>();
  const named = (name: string): Gate => {
    let found = byName.get(name);
    if (found === undefined) {
      found = gate();
      byName.set(name, found);
    }
    return found;
  };
  return { named, open: (name) => named(name).open() };
}

/**
 * Polls `condition` on the event loop until it holds. The limit only turns a hang into a failure naming
 * what never happened; it is no claim about speed.
 */
export async function until(condition: () => boolean, what: string, hangGuardMs = 60_000): Promise<void> {
  const giveUpAtMs = performance.now() + hangGuardMs;
  while (!condition()) {
    if (performance.now() > giveUpAtMs) throw new Error(`hang guard: still waiting for ${what} after ${hangGuardMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Lets every callback already due run (one turn of the event loop), without waiting for any time. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
