// HSM: a stand-in for a hardware security module, run in worker threads (CPU work stays off the node's
// event loop). It MACs the request data with a demonstration key; a real deployment calls the HSM here.
import { createHmac } from 'node:crypto';

const DEMO_KEY = 'purser-example-key-not-a-secret';

export default function hsm(request) {
  const mac = createHmac('sha256', DEMO_KEY).update(JSON.stringify(request.data ?? null)).digest('hex');
  return { mac };
}
