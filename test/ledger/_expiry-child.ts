// Child of ledger.expiry-million.test.ts: opens the durable ledger in the directory given with its clock
// at the time given (past the timeout of the holds due then), so the background expiry starts at once, and
// prints how many holds it has expired after each committed step (`expired <n>`) until it is killed.
// Internals by relative path: the child is bundled alone, without the node's logging dependencies.
import { openLedger } from '../../src/ledger/open.js';

const [dir, nowNs] = process.argv.slice(2);
const ledger = await openLedger({ dir, clock: () => BigInt(nowNs), logger: { error: () => undefined, warn: () => undefined } });
let reported = 0;
// Steps commit one after another with the event loop free between them: report each as it lands.
setInterval(() => {
  const expired = ledger.stats().transfersExpired;
  if (expired !== reported) {
    reported = expired;
    process.stdout.write(`expired ${expired}\n`);
  }
}, 1);
