// The `purser` command as a user runs it: compiled bin, real processes, exit codes and one-line errors.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/purser.js', import.meta.url));
// The timeout is a hang guard: a CLI process starting on a loaded machine may take seconds.
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

test('--help lists the commands', () => {
  const result = run(['--help']);
  assert.equal(result.status, 0);
  for (const command of ['start', 'version', 'help']) assert.match(result.stdout, new RegExp(`^  ${command} `, 'm'));
  const start = run(['start', '--help']);
  assert.equal(start.status, 0);
  assert.match(start.stdout, /--http-port <port>/);
});

test('an unknown flag exits 2 with a one-line explanation and no stack trace', () => {
  const result = run(['start', '--bogus']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /^purser: .*--bogus.*\n$/);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
});

test('a bad environment variable exits 2 and names it', () => {
  const result = run(['start'], { PURSER_HTTP_PORT: 'abc' });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /^purser: .*PURSER_HTTP_PORT.*\n$/);
});

test('an unknown command exits 2', () => {
  const result = run(['frobnicate']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /unknown command 'frobnicate'/);
});

test('purser start answers /health and stops cleanly on SIGTERM and on SIGINT', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'purser-cli-'));
  try {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const child = spawn(process.execPath, [BIN, 'start', '--dir', join(dir, 'data'), '--http-port', '0', '--log-pretty', 'false'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const url = await new Promise<string>((resolve, reject) => {
        // A hang guard, not a claim about start-up speed (a loaded machine is slow).
        const timer = setTimeout(() => reject(new Error(`no start-up line within 60 s: ${output}`)), 60_000);
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /"http":"(http:\/\/[^"]+)"/.exec(output);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
      });
      const health = await fetch(`${url}/health`);
      assert.equal(health.status, 200);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill(signal);
      assert.equal(await exited, 0);
      assert.match(output, /"msg":"purser node stopped"/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
