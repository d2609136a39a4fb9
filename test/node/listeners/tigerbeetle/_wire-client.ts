/**
 * The tigerbeetle-node adapter for test/_remote/suite.ts: a drop-in for test/ledger/_client.ts whose
 * `makeClient()` returns the official tigerbeetle-node client connected through the TigerBeetle listener
 * to a fresh Purser ledger, so the ledger's own semantic tests run over the wire unchanged.
 *
 * A new official client takes about 0.6 s before its first request is answered (it connects, and its
 * first register goes out only on its request timeout), so clients are warmed up a few at a time in the
 * background: each with its own listener, registered against an empty placeholder, then pointed at the
 * fresh ledger the test asked for.
 *
 * Results are passed through as the official client returns them, except that the `reserved` field
 * it adds to create results (always 0) is dropped, since the ledger's `CreateAccountResult` and
 * `CreateTransferResult` types have no such field.
 */
import { after } from 'node:test';
import tb from 'tigerbeetle-node';
import { openLedger, type Client } from 'purser';
import { startTigerBeetleListener, type TigerBeetleListener } from '../../../../src/node/listeners/tigerbeetle/listener.js';
import { FakeClock, type TestClient } from '../../../ledger/_client.js';
import { RecordingLedger, silentLogger } from './_harness.js';
import { delegatingClient, remoteTestClient } from '../../../_remote/suite.js';

export * from '../../../ledger/_client.js';

/** Clients warming up at any time. */
const PREWARMED_CLIENTS = 6;

interface WarmClient {
  client: Client;
  listener: TigerBeetleListener;
  /** The ledger the listener serves; swapped from the placeholder to the test's ledger. */
  target: { ledger: Client };
}

const warming: Promise<WarmClient>[] = [];
const handedOut: WarmClient[] = [];

async function warmUp(): Promise<WarmClient> {
  const target = { ledger: new RecordingLedger() as Client };
  const listener = await startTigerBeetleListener({ host: '127.0.0.1', port: 0, ledger: delegatingClient(() => target.ledger), logger: silentLogger });
  const client = tb.createClient({ cluster_id: 0n, replica_addresses: [String(listener.address.port)] });
  await client.lookupAccounts([1n]);
  return { client, listener, target };
}

function refill(): void {
  while (warming.length < PREWARMED_CLIENTS) {
    const warm = warmUp();
    warm.catch(() => undefined); // Reported when taken.
    warming.push(warm);
  }
}

after(async () => {
  // The parent test (ledger-suite.test.ts) checks this line to know the requests really went over the wire.
  const executed = handedOut.reduce((sum, warm) => sum + warm.listener.stats.requestsExecuted, 0);
  process.stderr.write(`wire-client: ${String(handedOut.length)} official clients, ${String(executed)} requests over the wire\n`);
  const all = [...handedOut, ...(await Promise.all(warming.splice(0)))];
  for (const { client, listener } of all) {
    client.destroy();
    await listener.close();
  }
});

function withoutReserved<T extends { timestamp: bigint; status: number }>(results: T[]): T[] {
  return results.map(({ timestamp, status }) => ({ timestamp, status }) as T);
}

export async function makeClient(options: { clock?: FakeClock } = {}): Promise<TestClient> {
  const clock = options.clock ?? new FakeClock();
  const ledger = await openLedger({ clock: clock.read });
  refill();
  const warm = await warming.shift()!;
  refill();
  handedOut.push(warm);
  warm.target.ledger = ledger;
  const { client } = warm;
  return remoteTestClient(delegatingClient(() => client, withoutReserved), () => ledger.close());
}
