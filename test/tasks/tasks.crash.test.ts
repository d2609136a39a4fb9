// kill -9 of a process running the outbox: exactly-once effects through job.transaction, nothing lost.
//
// Each of 50 cycles starts the child (_crash-child.ts, bundled once) on one data directory: it enqueues 40
// tasks, each in a transaction with an order row, and runs them with a handler that writes an effect row
// and increments a counter in job.transaction. The child is killed with SIGKILL once it has reported a random
// number (1 to 20) of finished tasks — a state, not a time — so kills land while tasks run, inside
// job.transaction, during commits and checkpoints. A last child drains what is left. Then: every
// acknowledged enqueue's order is there; the counter equals the number of committed orders (each committed
// task credited exactly once, none lost, none twice); one effect row per task; no task left in any table;
// the trees are sound; and some kills did land on running tasks (they were recovered).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleChild } from '../store/durability/_bundle.js';
import { openStore, type Store } from 'purser';
import type { EngineHooks } from '../../src/store/interfaces.js';

const CYCLES = 50;
const TASKS_PER_CYCLE = 40;
const DONE_BEFORE_KILL_MAX = 20;

interface ChildRun {
  enqueued: bigint[];
  done: number;
  recovered: number;
}

function runChild(script: string, dir: string, mode: 'work' | 'drain', killAfterDone: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir, mode, String(TASKS_PER_CYCLE)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const run: ChildRun = { enqueued: [], done: 0, recovered: 0 };
    let buffered = '';
    let stderr = '';
    let killed = false;
    let idle = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('enq ')) run.enqueued.push(BigInt(line.slice(4)));
        else if (line.startsWith('done ')) run.done++;
        else if (line.startsWith('recovered ')) run.recovered = Number(line.slice(10));
        else if (line === 'idle') idle = true;
      }
      if (mode === 'work' && !killed && run.done >= killAfterDone) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (mode === 'work' && killed && signal === 'SIGKILL') resolve(run);
      else if (mode === 'drain' && idle && code === 0) resolve(run);
      else reject(new Error(`child (${mode}) ended unexpectedly (code ${String(code)}, signal ${String(signal)}) after ${run.done} done: ${stderr}`));
    });
  });
}

async function countRecords(store: Store, table: string): Promise<number> {
  return store.transaction(async (tx) => {
    let records = 0;
    for await (const _ of tx.range(table)) records++;
    return records;
  });
}

test(`${CYCLES} kill -9 cycles: every committed task credited exactly once through job.transaction`, { timeout: 600_000 }, async () => {
  const workDir = await mkdtemp(join(tmpdir(), 'purser-tasks-crash-'));
  const bundle = await bundleChild('../../tasks/_crash-child.ts');
  try {
    const dir = join(workDir, 'data');
    const acknowledged: bigint[] = [];
    let recovered = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const run = await runChild(bundle.file, dir, 'work', 1 + Math.floor(Math.random() * DONE_BEFORE_KILL_MAX));
      acknowledged.push(...run.enqueued);
      recovered += run.recovered;
    }
    const drain = await runChild(bundle.file, dir, 'drain', 0);
    recovered += drain.recovered;

    const store = (await openStore({ dir })) as Store & EngineHooks;
    try {
      store.checkInvariants();
      const orders = await countRecords(store, 'orders');
      const effects = await countRecords(store, 'effects');
      const credits = await store.transaction((tx) => tx.counter('effects.count', Buffer.from('credits')));
      const present = await store.transaction(async (tx) => (await tx.getMany('orders', acknowledged.map((order) => {
        const key = Buffer.alloc(8);
        key.writeBigUInt64BE(order);
        return key;
      }))).filter((value) => value !== undefined).length);
      assert.equal(present, acknowledged.length, 'every acknowledged enqueue committed');
      assert.ok(orders >= acknowledged.length && orders <= CYCLES * TASKS_PER_CYCLE);
      assert.equal(credits, BigInt(orders), 'the counter equals the number of committed tasks: each credited exactly once');
      assert.equal(effects, orders, 'one effect row per committed task');
      for (const table of ['tasks.ready', 'tasks.scheduled', 'tasks.running', 'tasks.dead', 'tasks.dedup', 'tasks.done']) {
        assert.equal(await countRecords(store, table), 0, `${table} is empty after the drain`);
      }
      assert.ok(recovered > 0, 'some kills landed while tasks ran, and those runs were recovered');
    } finally {
      await store.close();
    }
  } finally {
    await bundle.remove();
    await rm(workDir, { recursive: true, force: true });
  }
});
