/**
 * A drop-in for test/ledger/_client.ts whose `makeClient()` returns a `connect()` client talking to a
 * fresh ledger through a bus listener, so the ledger's own semantic tests run over the bus connection
 * unchanged. `_ledger-hooks.mjs` points test/ledger's `./_client.js` import here.
 */
import { after } from 'node:test';
import { pino } from 'pino';
import { connect, createBus, openLedger, type BusClient } from 'purser';
import { startBusListener } from '../../src/node/listeners/bus.js';
import { FakeClock, type TestClient } from '../ledger/_client.js';

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
  return {
    createAccounts: (batch) => client.createAccounts(batch),
    createTransfers: (batch) => client.createTransfers(batch),
    lookupAccounts: (ids) => client.lookupAccounts(ids),
    lookupTransfers: (ids) => client.lookupTransfers(ids),
    getAccountTransfers: (filter) => client.getAccountTransfers(filter),
    getAccountBalances: (filter) => client.getAccountBalances(filter),
    queryAccounts: (filter) => client.queryAccounts(filter),
    queryTransfers: (filter) => client.queryTransfers(filter),
    destroy: () => undefined,
    close: async () => {
      await client.close();
      await listener.close({ drainTimeoutMs: 100 });
      await bus.close({ drainTimeoutMs: 100 });
      await ledger.close();
    },
  };
}
