// A node in a child process for the gateway tests: started on NATS with the name and exports it is given,
// hosting the test services below; it prints {"bus": "host:port", "http": url} once started and runs until
// killed. argv[2] is JSON: { nats, name, exports, services: string[], tls?: { natsTlsCa?, natsTlsCert?, natsTlsKey? } }.
import { pino } from 'pino';
import { ServiceFailure, startNode, type ServiceRequest } from 'purser';

const { nats, name, exports, services, tls } = JSON.parse(process.argv[2]) as {
  nats: string; name: string; exports: string; services: string[]; tls?: { natsTlsCa?: string; natsTlsCert?: string; natsTlsKey?: string };
};
const handlers: Record<string, (request: ServiceRequest) => unknown> = {
  ECHO: (request) => ({ node: name, data: request.data }),
  SLOW: async (request) => {
    await new Promise((resolve) => setTimeout(resolve, (request.data as { ms: number }).ms));
    return { node: name };
  },
  DECLINE: () => {
    throw new ServiceFailure(51, { reason: 'insufficient funds', node: name });
  },
  // Never answers: the node holding it is killed mid-call.
  HOLD: () => new Promise(() => undefined),
  // Never answers either, with one server and a queue of one: a third call finds the queue full.
  TINY: () => new Promise(() => undefined),
  // Forwards to ECHO, which lives on another node.
  FWD: (request) => request.forward('ECHO', { forwardedBy: name, data: request.data }),
};
// Heartbeats every second, as by default: a node not heard from for three of them is dead and a call no node
// acknowledged within three fails, so a node stalled for a second or two on a loaded machine is not taken
// for dead (with 200 ms, a 600 ms stall of any of these processes failed calls and withdrew services).
const node = await startNode({ memory: true, httpPort: 0, nats, nodeName: name, gatewayExports: exports, gatewayHeartbeatMs: 1000, ...tls, logger: pino({ level: 'silent' }) });
for (const service of services) node.bus.advertise(service, handlers[service], service === 'TINY' ? { servers: 1, queueDepth: 1 } : { servers: 16 });
await node.gateway!.ready();
process.stdout.write(`${JSON.stringify({ bus: `${node.busListener.host}:${node.busListener.port}`, http: node.http.url })}\n`);
process.on('SIGTERM', () => void node.close().then(() => process.exit(0)));
