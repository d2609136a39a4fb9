// A node whose NATS server goes away is closed while the link is down; the process must then exit by itself
// (no NATS client left reconnecting). argv[2]: the URL of a nats-server this script may not stop itself:
// the parent stops it once this prints "up", and this closes the node once its link is down.
import { pino } from 'pino';
import { startNode } from 'purser';

const node = await startNode({ memory: true, httpPort: 0, nats: process.argv[2], nodeName: 'closing', logger: pino({ level: 'silent' }) });
await node.gateway!.ready();
process.stdout.write('up\n');
while (node.gateway!.link().state !== 'down') await new Promise((resolve) => setTimeout(resolve, 20));
await node.close();
process.stdout.write('closed\n');
