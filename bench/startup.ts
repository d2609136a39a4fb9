/**
 * Start-up time: from spawning `purser start --memory` to the first answer of `GET /health`.
 * Peer: the floor — a bare Node process that starts `http.createServer` and answers the same request.
 * The difference is what Purser's own start-up (modules, logger, metrics, listeners) costs.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { report, runs } from './_harness.js';

const PURSER_BIN = fileURLToPath(new URL('../bin/purser.js', import.meta.url));
const BARE_SERVER = `
  const http = require('node:http');
  const server = http.createServer((req, res) => res.end('{"status":"ok"}'));
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ http: 'http://127.0.0.1:' + server.address().port })));
`;

/** Spawns a server, waits for the log line naming its URL, asks /health, and returns elapsed ms. */
async function timeToHealthMs(args: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const match = /"http":"(http:\/\/[^"]+)"/.exec(buffered);
        if (match) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
    });
    const response = await fetch(`${url}/health`);
    if (response.status !== 200) throw new Error(`/health answered ${response.status}`);
    await response.text();
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    child.kill('SIGKILL');
  }
}

const purser: number[] = [];
const bare: number[] = [];
for (let run = 0; run < runs(7); run += 1) {
  purser.push(await timeToHealthMs([PURSER_BIN, 'start', '--memory', '--http-port', '0', '--log-pretty', 'false']));
  bare.push(await timeToHealthMs(['-e', BARE_SERVER]));
}
report('startup', [
  { name: 'start-up to first /health', unit: 'ms', higherIsBetter: false, purser, peer: bare, peerName: 'bare node http server' },
]);
