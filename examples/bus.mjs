import { createBus, ServiceFailure, XatmiError, TPNOBLOCK, TPGETANY } from 'purser';

const bus = createBus();
bus.advertise('LIMITS', (req) => ({ account: req.data.account, dailyMinor: 100_000 }));
bus.advertise('BALANCE', async (req) => {
  if (!req.data?.account) throw new ServiceFailure(51, { reason: 'no account' }); // TPFAIL: caller gets TPESVCFAIL
  const limits = await req.call('LIMITS', req.data);                                // nested call: inherits the deadline
  return { balanceMinor: 10_000, limits: limits.data };                             // TPSUCCESS
}, { servers: 4, queueDepth: 1000 });
bus.advertise('HSM', new URL('./services/hsm.mjs', import.meta.url), { threads: 2 }); // default export = handler
bus.advertise('ROUTER', (req) => req.forward('BALANCE', req.data));                 // tpforward

const reply = await bus.call('BALANCE', { account: 'A1' }, { timeoutMs: 2000, flags: TPNOBLOCK });
const cd = bus.acall('ROUTER', { account: 'A2' });
const any = await bus.getReply(TPGETANY); // or bus.getReply(cd); bus.cancel(cd)
const mac = await bus.call('HSM', { pan: '4111111111111111' }); // runs in a worker thread
try {
  await bus.call('BALANCE', {});
} catch (error) {
  if (!(error instanceof XatmiError)) throw error;
  console.log(error.code, error.urcode, error.data); // TPESVCFAIL 51 { reason: 'no account' }
}
console.log(reply.data, any.cd === cd, any.data.limits.account, mac.data.mac.length);
await bus.close(); // drains and stops the worker threads
