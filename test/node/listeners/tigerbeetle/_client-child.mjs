// Runs the official tigerbeetle-node client in its own process (a protocol mistake by the server can
// abort or hang it, so tests never load it in-process). Usage:
//   node _client-child.mjs <address> <cluster> <async function body using `tb` and `client`>
// The body's return value is printed as one JSON line, bigints as "<digits>n"; errors print
// {"error": message, "code": code}. The process exits when the body is done.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tb = require('tigerbeetle-node');
const [address, cluster, code] = process.argv.slice(2);
const client = tb.createClient({ cluster_id: BigInt(cluster), replica_addresses: [address] });
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
const replacer = (_key, value) => (typeof value === 'bigint' ? `${value}n` : value);
let output;
try {
  output = { result: await new AsyncFunction('tb', 'client', code)(tb, client) };
} catch (error) {
  output = { error: String(error?.message ?? error), code: error?.code };
}
// tigerbeetle-node 0.17.9 panics ("attempt to unwrap error: ClientInvalid", SIGABRT) when an evicted
// client is destroyed, so an evicted client is left for process exit to clean up.
if (!String(output.code).startsWith('ERR_CLIENT_')) client.destroy();
process.stdout.write(`${JSON.stringify(output, replacer)}\n`);
process.exit(0);
