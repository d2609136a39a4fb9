import { createBus } from 'purser';
const bus = createBus();
bus.advertise('echo', (r) => r.data, { servers: 64 });
const data = { a: 1 };
const t0 = performance.now();
for (let n = 0; n < 3_000_000; n++) await bus.call('echo', data);
console.log(Math.round(3_000_000 / ((performance.now() - t0) / 1000)));
await bus.close();
