/**
 * The fuzzer's command line (run by `scripts/ledger-fuzz.mjs`): runs seeds one after another against the
 * embedded ledger, or with `--wire` against a ledger served by the TigerBeetle listener and driven by the
 * official tigerbeetle-node client in this process. Prints progress and, on the first mismatch, the seed
 * and the request; exits 1 then.
 */
import { createRequire } from 'node:module';
import { CreateAccountStatus, CreateTransferStatus } from '../../../src/ledger/types.js';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { openLedger } from '../../../src/ledger/open.js';
import { startTigerBeetleListener } from '../../../src/node/listeners/tigerbeetle/listener.js';
import { fuzz, FuzzMismatch, type FuzzClient, type OpenTarget } from './fuzz.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    seeds: { type: 'string', default: '1' },
    events: { type: 'string', default: '1000000' },
    wire: { type: 'boolean', default: false },
    'restart-every': { type: 'string' },
  },
});
const firstSeed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const seeds = Number(values.seeds);
const events = Number(values.events);
const quiet = { error: (fields: object, message: string) => console.error(message, fields), warn: () => undefined };

const embedded: OpenTarget = async (clock) => {
  const ledger = await openLedger({ clock: () => clock.nowNs, logger: quiet });
  return { client: ledger, close: () => ledger.close() };
};

interface TigerBeetleClient extends FuzzClient {
  destroy(): void;
}

const wire: OpenTarget = async (clock) => {
  const require = createRequire(import.meta.url);
  const tb = require('tigerbeetle-node') as { createClient(options: { cluster_id: bigint; replica_addresses: string[] }): TigerBeetleClient };
  const ledger = await openLedger({ clock: () => clock.nowNs, logger: quiet });
  const listener = await startTigerBeetleListener({ host: '127.0.0.1', port: 0, ledger, logger: pino({ level: 'silent' }) });
  const client = tb.createClient({ cluster_id: 0n, replica_addresses: [String(listener.address.port)] });
  return {
    client,
    close: async () => {
      client.destroy();
      await listener.close();
      await ledger.close();
    },
  };
};

let total = 0;
const started = Date.now();
for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
  let lastPrinted = 0;
  try {
    const report = await fuzz({
      seed, events, open: values.wire ? wire : embedded,
      restartEvery: values['restart-every'] !== undefined ? Number(values['restart-every']) : values.wire ? 20_000 : 4_000,
      onProgress: (r) => {
        if (r.events - lastPrinted >= 250_000) {
          lastPrinted = r.events;
          console.log(`seed ${seed}: ${r.events.toLocaleString('en')} events, ${r.requests.toLocaleString('en')} requests, ${r.ledgers} ledgers, no mismatch (${Math.round((Date.now() - started) / 1000)} s)`);
        }
      },
    });
    total += report.events;
    const unseen = [
      ...Object.entries(CreateAccountStatus).filter(([, v]) => typeof v === 'number' && !report.statuses.has(`account:${v}`)).map(([k]) => `account ${k}`),
      ...Object.entries(CreateTransferStatus).filter(([, v]) => typeof v === 'number' && !report.statuses.has(`transfer:${v}`)).map(([k]) => `transfer ${k}`),
    ];
    console.log(`seed ${seed}: done, ${report.events.toLocaleString('en')} events in ${report.requests.toLocaleString('en')} requests on ${report.ledgers} ledgers, ${report.statuses.size} distinct result statuses (never: ${unseen.join(', ') || 'none'}), no mismatch; total ${total.toLocaleString('en')} events (${Math.round((Date.now() - started) / 1000)} s)`);
  } catch (error) {
    if (!(error instanceof FuzzMismatch)) throw error;
    console.log(`MISMATCH (seed ${seed}; rerun with --seed ${seed} --events ${events}):\n${error.message}`);
    process.exit(1);
  }
}
