import { createBus } from 'purser';
import { Registry } from 'prom-client';
import { pino } from 'pino';
const plain = createBus();
const metered = createBus({ metricsRegistry: new Registry(), logger: pino({ level: 'info' }) });
for (const bus of [plain, metered]) bus.advertise('echo', (r) => r.data, { servers: 64 });
plain.advertise('W', new URL('../../bench/_bus-echo-worker.ts', import.meta.url), { threads: 2 });
const data = { a: 1 };
async function measure(fn: () => Promise<unknown>, inflight: number, ms = 700) {
  let n = 0; const end = performance.now() + ms; const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, async () => { while (performance.now() < end) { await fn(); n++; } }));
  return Math.round(n / ((performance.now() - t0) / 1000));
}
await plain.call('W', 1);
for (let round = 0; round < 3; round++) {
  console.log('plain64', await measure(() => plain.call('echo', data), 64), 'metered64', await measure(() => metered.call('echo', data), 64),
    'worker64', await measure(() => plain.call('W', data), 64), 'worker1', await measure(() => plain.call('W', data), 1));
}
await plain.close(); await metered.close();
