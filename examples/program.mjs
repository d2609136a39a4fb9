// A node embedded in a program: started in memory on a free port, asked for its health, closed.
import { startNode, PurserError } from 'purser';

const node = await startNode({ memory: true, httpPort: 0, busPort: 0, logLevel: 'warn' });
const health = await (await fetch(`${node.http.url}/health`)).json();
console.log(health.status, node.http.url.startsWith('http://127.0.0.1:'));
try {
  await node.bus.call('NO_SUCH_SERVICE', null);
} catch (error) {
  if (!(error instanceof PurserError)) throw error;
  console.log(error.code); // switch on the stable code, not the message
}
await node.close();
