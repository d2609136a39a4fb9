/**
 * The connect() adapter for test/_remote/suite.ts: a drop-in for test/ledger/_client.ts whose
 * `makeClient()` returns a `connect()` client talking to a fresh ledger through a bus listener, so the
 * ledger's own semantic tests run over the bus connection unchanged.
 */
import { after } from 'node:test';
import { pino } from 'pino';
import { connect, createBus, openLedger, type BusClient } from 'purser';
import { startBusListener } from '../../src/node/listeners/bus.js';
import { FakeClock, type TestClient } from '../ledger/_client.js';
import { delegatingClient, remoteTestClient } from '../_remote/suite.js';

export * from '../ledger/_client.js';

const clients: BusClient[] = [];

after(() => {
  // The parent test (ledger-suite.test.ts) checks this line to know the requests really went over the wire.
  process.stderr.write(`bus-ledger-client: ${String(clients.length)} connect() clients\n`);
});

export async function makeClient(options: { clock?: FakeClock } = {}): Promise<TestClient> {
  const clock = options.clock ?? new FakeClock();
  const ledger = await openLedger({ clock: clock.read });
  const bus = createBus();
  const listener = await startBusListener({ host: '127.0.0.1', port: 0, bus, ledger, logger: pino({ level: 'silent' }) });
  const client = await connect(listener.address.port);
  clients.push(client);
  return remoteTestClient(delegatingClient(() => client), async () => {
    await client.close();
    await listener.close({ drainTimeoutMs: 100 });
    await bus.close({ drainTimeoutMs: 100 });
    await ledger.close();
  });
}
