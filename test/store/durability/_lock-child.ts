// The child of lock.test.ts. Prints "ready <pid>", waits for "go" on stdin, opens the store in argv[2]
// and prints "opened <pid>" — then holds it until stdin ends — or "refused <code> <message>" and exits.
import { createInterface } from 'node:readline';
import { PurserError } from '../../../src/errors.js';
import { openStore } from '../../../src/store/store.js';

async function main(): Promise<void> {
  const dir = process.argv[2];
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  process.stdout.write(`ready ${process.pid}\n`);
  await lines.next();
  let store;
  try {
    store = await openStore({ dir, checkpointLogBytes: 0 });
  } catch (error) {
    const code = error instanceof PurserError ? error.code : 'UNEXPECTED';
    process.stdout.write(`refused ${code} ${(error as Error).message}\n`);
    return;
  }
  process.stdout.write(`opened ${process.pid}\n`);
  await lines.next(); // stdin ends (or a second line): let go
  await store.close();
}

await main();
process.exit(0);
