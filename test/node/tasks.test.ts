// The outbox as a node part: node.tasks runs on the node's store, its metrics are on /metrics, and the
// operator routes and `purser tasks ls|show|retry|rm` (the compiled bin, in a child process) inspect and
// redrive dead letters; bad ids and unknown ones get typed refusals.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startNode, type Job } from 'purser';
import pino from 'pino';
import { waitFor } from '../tasks/_helpers.js';

const BIN = fileURLToPath(new URL('../../bin/purser.js', import.meta.url));
const exec = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

test('node.tasks runs tasks on the node store; metrics, HTTP routes and purser tasks show and redrive dead letters', { timeout: 120_000 }, async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: pino({ level: 'silent' }) });
  try {
    let healed = false;
    const done: string[] = [];
    node.tasks.register('charge', (job: Job<{ card: string }>) => {
      if (!healed) throw new Error('issuer unavailable');
      done.push(job.payload.card);
    }, { maxAttempts: 1 });
    const { id } = await node.store.transaction((tx) => node.tasks.enqueue(tx, 'charge', { card: '4111' }));
    await waitFor(async () => (await node.tasks.queues())[0]?.dead === 1, 'the dead letter');

    const metrics = await (await fetch(`${node.http.url}/metrics`)).text();
    assert.match(metrics, /^purser_tasks\{queue="charge",state="dead"\} 1$/m);
    assert.match(metrics, /^purser_tasks_attempts_total 1$/m);
    assert.match(metrics, /^purser_tasks_dead_total 1$/m);
    assert.match(metrics, /^purser_tasks_pickup_seconds_count\{queue="charge"\} 1$/m);
    assert.match(metrics, /^purser_tasks_run_seconds_count\{queue="charge",outcome="dead"\} 1$/m);

    const queues = (await (await fetch(`${node.http.url}/v1/tasks`)).json()) as unknown[];
    assert.deepEqual(queues, [{ queue: 'charge', ready: 0, scheduled: 0, running: 0, dead: 1 }]);
    const notFound = await fetch(`${node.http.url}/v1/tasks/show/999`);
    assert.equal(notFound.status, 404);
    assert.equal(((await notFound.json()) as { error: { code: string } }).error.code, 'TASK_NOT_FOUND');
    const badId = await fetch(`${node.http.url}/v1/tasks/retry/abc`, { method: 'POST' });
    assert.equal(badId.status, 400);
    assert.equal(((await badId.json()) as { error: { code: string } }).error.code, 'TASK_INVALID_ARGUMENT');
    const badState = await fetch(`${node.http.url}/v1/tasks/list?state=sideways`);
    assert.equal(badState.status, 400);

    const ls = await cli(['tasks', 'ls', '--url', node.http.url]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^charge\s+0\s+0\s+0\s+1$/m);
    const dead = await cli(['tasks', 'ls', '--state', 'dead', '--url', node.http.url]);
    assert.match(dead.stdout, new RegExp(`^${String(id)}\\s+charge\\s+charge\\s+dead\\s+1\\s+\\S+\\s+Error: issuer unavailable$`, 'm'));
    const show = await cli(['tasks', 'show', String(id), '--url', node.http.url]);
    assert.equal(show.code, 0, show.stderr);
    assert.deepEqual((JSON.parse(show.stdout) as { payload: unknown }).payload, { card: '4111' });
    const missing = await cli(['tasks', 'retry', '12345', '--url', node.http.url]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /TASK_NOT_FOUND/);
    const usage = await cli(['tasks', 'retry', 'x1', '--url', node.http.url]);
    assert.equal(usage.code, 2);

    healed = true;
    const retry = await cli(['tasks', 'retry', String(id), '--url', node.http.url]);
    assert.equal(retry.code, 0, retry.stderr);
    await waitFor(() => done.length === 1, 'the redriven task to run');
    await waitFor(async () => (await node.tasks.queues())[0].running === 0, 'its completion');
    assert.deepEqual(await node.tasks.queues(), [{ queue: 'charge', ready: 0, scheduled: 0, running: 0, dead: 0 }]);

    node.tasks.register('never', () => {
      throw new Error('no');
    }, { maxAttempts: 1 });
    const second = await node.store.transaction((tx) => node.tasks.enqueue(tx, 'never'));
    await waitFor(async () => (await node.tasks.queues()).some((queue) => queue.queue === 'never' && queue.dead === 1), 'the second dead letter');
    const removed = await cli(['tasks', 'rm', String(second.id), '--url', node.http.url]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await node.tasks.list()).length, 0);
  } finally {
    await node.close();
  }
});

test('a node restarted on its data directory finds the tasks the closed node left queued', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'purser-node-tasks-'));
  try {
    const first = await startNode({ dir, httpPort: 0, logger: pino({ level: 'silent' }) });
    first.tasks.register('later', () => {});
    await first.store.transaction((tx) => first.tasks.enqueue(tx, 'later', 1, { delayMs: 3_600_000 }));
    await first.close();
    const second = await startNode({ dir, httpPort: 0, logger: pino({ level: 'silent' }) });
    try {
      assert.deepEqual(await second.tasks.queues(), [{ queue: 'later', ready: 0, scheduled: 1, running: 0, dead: 0 }]);
    } finally {
      await second.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
