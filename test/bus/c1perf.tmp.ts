import { ServiceBroker } from 'moleculer';
import { createBus } from 'purser';
const bus = createBus();
bus.advertise('echo', (r) => r.data, { servers: 64 });
const broker = new ServiceBroker({ nodeID: 'x', logger: false, metrics: false, tracing: false });
broker.createService({ name: 'echo', actions: { echo: (ctx: { params: unknown }) => ctx.params } });
await broker.start();
const data = { a: 1 };
async function measure(fn: () => Promise<unknown>, inflight: number, ms = 700) {
  let n = 0; const end = performance.now() + ms; const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, async () => { while (performance.now() < end) { await fn(); n++; } }));
  return n / ((performance.now() - t0) / 1000);
}
for (let round = 0; round < 3; round++) {
  const p1 = await measure(() => bus.call('echo', data), 1);
  const m1 = await measure(() => broker.call('echo.echo', data), 1);
  const p64 = await measure(() => bus.call('echo', data), 64);
  const m64 = await measure(() => broker.call('echo.echo', data), 64);
  console.log(`1: purser ${Math.round(p1)} mol ${Math.round(m1)} ratio ${(p1 / m1).toFixed(2)} | 64: purser ${Math.round(p64)} mol ${Math.round(m64)} ratio ${(p64 / m64).toFixed(2)}`);
}
await broker.stop(); await bus.close();
