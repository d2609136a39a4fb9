// Run against `npm start` (which hosts BALANCE from examples/purser.config.json).
import { connect, TPGETANY } from 'purser';

const client = await connect(process.env.PURSER_BUS_ADDRESS ?? '127.0.0.1:7700'); // or connect(7700), connect({ host, port })
const reply = await client.call('BALANCE', { account: 'A1' }, { timeoutMs: 2000 });
const cd = client.acall('BALANCE', { account: 'A2' });
const any = await client.getReply(TPGETANY); // or client.getReply(cd); client.cancel(cd)
console.log(reply.data.balanceMinor, any.cd === cd, any.data.account); // 10000 true A2
await client.close();
