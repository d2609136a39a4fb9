// Remote workers: a process that connect()s to a node claims its tasks over the bus under a lease. Killed
// with SIGKILL mid-task, its task runs again in another worker once the lease ends (waited for as a state:
// the second worker's "done" line); a failed remote attempt is retried; results of an attempt that lost its
// lease and malformed service calls are refused with typed codes.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import pino from 'pino';
import { connect, startNode, XatmiError } from 'purser';
import { bundleChild } from '../store/durability/_bundle.js';
import { waitFor } from './_helpers.js';

function worker(script: string, address: string, leaseMs: number): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, [script, address, String(leaseMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buffered = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { child, lines };
}

test('a remote worker killed with SIGKILL mid-task: its task runs again after the lease, in another worker', { timeout: 120_000 }, async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: pino({ level: 'silent' }) });
  const bundle = await bundleChild('../../tasks/_remote-worker-child.ts');
  const address = `${node.busListener.host}:${node.busListener.port}`;
  const children: ChildProcess[] = [];
  try {
    node.tasks.declare('remote-job', { maxAttempts: 5, backoffBaseMs: 1, backoffMaxMs: 1 });
    assert.throws(() => node.tasks.register('other', () => {}, { queue: 'remote-job' }), { code: 'TASK_INVALID_ARGUMENT' }, 'a remote queue takes no local handlers');
    const { id } = await node.store.transaction((tx) => node.tasks.enqueue(tx, 'remote-job', { hang: true }));

    const first = worker(bundle.file, address, 1000);
    children.push(first.child);
    await waitFor(() => first.lines.includes(`started ${String(id)} 1`), 'the first worker to start the task');
    const exited = new Promise((resolve) => first.child.once('close', resolve));
    first.child.kill('SIGKILL');
    await exited;

    const second = worker(bundle.file, address, 1000);
    children.push(second.child);
    await waitFor(() => second.lines.includes(`done ${String(id)} 2`), 'the second worker to run the task again');
    assert.equal(node.tasks.stats().leaseExpiries, 1, 'the first attempt ended by its lease');
    assert.ok(!second.lines.includes(`started ${String(id)} 1`), 'the second worker got the second attempt, not the first');

    const failing = await node.store.transaction((tx) => node.tasks.enqueue(tx, 'remote-job', { fail: true }));
    await waitFor(() => second.lines.includes(`done ${String(failing.id)} 2`), 'the failed remote attempt to be retried');
    await waitFor(async () => (await node.tasks.queues()).every((queue) => queue.ready + queue.scheduled + queue.running === 0), 'every completion committed');
    assert.equal(node.tasks.stats().retried, 2, 'one retry after the lease expiry, one after the failure');

    // A result for an attempt that no longer owns its task, and malformed calls, are refused with codes.
    const client = await connect(address);
    try {
      const refusal = async (service: string, data: unknown) => {
        const error = await client.call(service, data).then(() => undefined, (thrown: unknown) => thrown);
        assert.ok(error instanceof XatmiError && error.code === 'TPESVCFAIL', `${service} is refused`);
        return (error.data as { code: string }).code;
      };
      assert.equal(await refusal('TASKS.COMPLETE', { id, attempt: 1 }), 'TASK_NOT_RUNNING');
      assert.equal(await refusal('TASKS.COMPLETE', { id: 'x', attempt: 1 }), 'TASK_INVALID_ARGUMENT');
      assert.equal(await refusal('TASKS.CLAIM', { queue: 'remote-job', max: 0, leaseMs: 1000, waitMs: 0 }), 'TASK_INVALID_ARGUMENT');
      assert.equal(await refusal('TASKS.CLAIM', { queue: 'not-remote', max: 1, leaseMs: 1000, waitMs: 0 }), 'TASK_INVALID_ARGUMENT');
      assert.equal(await refusal('TASKS.HEARTBEAT', { claims: 'all' }), 'TASK_INVALID_ARGUMENT');
      assert.equal(await refusal('TASKS.FAIL', 'nonsense'), 'TASK_INVALID_ARGUMENT');
      assert.deepEqual((await client.call('TASKS.HEARTBEAT', { claims: [{ id, attempt: 1 }] })).data, [false]);
    } finally {
      await client.close();
    }
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await node.close();
    await bundle.remove();
  }
});
