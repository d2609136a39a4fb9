import { createBus } from 'purser';
const bus = createBus();
bus.advertise('echo', (r) => r.data, { servers: 64 });
const data = { a: 1 };
const t0 = performance.now();
let n = 0;
await Promise.all(Array.from({ length: 64 }, async () => { while (n < 3_000_000) { n++; await bus.call('echo', data); } }));
console.log(Math.round(n / ((performance.now() - t0) / 1000)));
await bus.close();
