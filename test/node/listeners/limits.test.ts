// The building blocks of the listeners' limits, on their own: the memory budget never lends past its size
// and keeps its last eighth for small holders; the connection table caps per address and in all, and at the
// cap a new connection displaces the oldest one that never finished its handshake; the fair queue serves
// owners in turn, so a late owner waits for at most the running tasks and one task of each other owner.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionTable, MemoryBudget, SMALL_HOLDER_BYTES_MAX, normalizeAddress } from '../../../src/node/listeners/limits.js';
import { FairQueue } from '../../../src/node/listeners/fair-queue.js';

test('memory budget: big holders stop at seven eighths, small ones may use the rest, nobody goes past the size', async () => {
  const budget = new MemoryBudget(8 * 1024 * 1024);
  const big = 1024 * 1024;
  let reserved = 0;
  while (budget.tryReserve(big, reserved)) reserved += big;
  assert.equal(budget.usedBytes, 7 * big, 'a holder of more than 64 KiB stops at 7/8');
  assert.equal(budget.refusals, 1);
  // A small holder (a lookup) still gets in, up to the full size and never past it.
  let small = 0;
  while (budget.tryReserve(SMALL_HOLDER_BYTES_MAX / 2, 0)) small += SMALL_HOLDER_BYTES_MAX / 2;
  assert.equal(budget.usedBytes, 8 * big);
  assert.equal(budget.peakBytes, 8 * big);
  assert.ok(small > 0);
  assert.equal(budget.tryReserve(1, 0), false, 'nothing past the size');
  // A refused holder waits; a release wakes it (on the next turn).
  const woken = new Promise<void>((resolve) => budget.wait(resolve));
  budget.release(big);
  await woken;
  assert.equal(budget.usedBytes, 7 * big);
  assert.throws(() => budget.release(8 * big), /released more than reserved/);
});

test('connection table: per-address cap, listener cap, displacement of the oldest silent connection', () => {
  const table = new ConnectionTable<{ greeted: boolean; displace(): void; displaced: boolean; id: number }>({ connectionsMax: 5, connectionsPerAddressMax: 3 });
  const make = (id: number, greeted: boolean) => ({ id, greeted, displaced: false, displace() { this.displaced = true; } });
  const entries = [make(1, true), make(2, false), make(3, false)];
  for (const entry of entries) {
    assert.equal(table.admit('10.0.0.1'), 'admitted');
    table.add(entry, '10.0.0.1');
  }
  // At the address's cap, its oldest silent connection (2, not 1) makes room.
  assert.equal(table.admit('10.0.0.1'), 'admitted');
  assert.deepEqual(entries.map((e) => e.displaced), [false, true, false]);
  const fourth = make(4, true);
  table.add(fourth, '10.0.0.1');
  entries[2].greeted = true;
  assert.equal(table.admit('10.0.0.1'), 'address_full', 'all three of 10.0.0.1 greeted: refused');
  const other = make(5, false);
  table.add(other, '10.0.0.2');
  table.add(make(6, true), '10.0.0.3');
  // At the listener's cap, the oldest silent connection of any address makes room.
  assert.equal(table.admit('10.0.0.4'), 'admitted');
  assert.equal(other.displaced, true);
  table.add(make(7, true), '10.0.0.4');
  assert.equal(table.admit('10.0.0.5'), 'listener_full', 'everyone greeted: the newcomer is refused');
  assert.deepEqual(table.refused, { address_full: 1, listener_full: 1, displaced: 2 });
  table.remove(fourth);
  assert.equal(table.admit('10.0.0.1'), 'admitted');
  assert.equal(normalizeAddress('::ffff:10.0.0.1'), '10.0.0.1');
});

test('fair queue: a newcomer is served right after the running task; a flooder keeping one request waiting cannot jump the others', async () => {
  const fair = new FairQueue(2);
  const order: string[] = [];
  const gates: Array<() => void> = [];
  const task = (name: string) => () => new Promise<string>((resolve) => {
    order.push(name);
    gates.push(() => resolve(name));
  });
  const flooder = {};
  const victim = {};
  const flood = Array.from({ length: 10 }, (_, i) => fair.submit(flooder, task(`flood${i}`)));
  assert.deepEqual(fair.stats(), { queued: 8, running: 2, owners: 1 });
  assert.equal(order.length, 2);
  const lookup = fair.submit(victim, task('lookup'));
  // Release tasks one at a time until the lookup ran: first come, first served would run all ten floods first.
  while (!order.includes('lookup')) {
    gates.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(order.slice(0, 3), ['flood0', 'flood1', 'lookup']);
  while (gates.length > 0 || fair.stats().queued > 0) {
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(await lookup, 'lookup');
  // Every flood task ran, and each submitter got its own task's result.
  assert.deepEqual(await Promise.all(flood), Array.from({ length: 10 }, (_, i) => `flood${i}`));
  // Two owners each keeping exactly one request waiting are served alternately: neither passes for new.
  const alternate: string[] = [];
  const one = new FairQueue(1);
  const owners = [{}, {}];
  const pending: Array<() => void> = [];
  const keepOne = (index: number, left: number): void => {
    if (left === 0) return;
    void one.submit(owners[index], () => new Promise<void>((resolve) => {
      alternate.push(`o${index}`);
      pending.push(resolve);
      keepOne(index, left - 1); // the next request arrives while this one runs
    }));
  };
  keepOne(0, 4);
  keepOne(1, 4);
  while (alternate.length < 8) {
    pending.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(alternate, ['o0', 'o1', 'o0', 'o1', 'o0', 'o1', 'o0', 'o1']);
  for (const resolve of pending.splice(0)) resolve();
  // A task that throws fails alone; forget() drops an owner's waiting tasks.
  await assert.rejects(fair.submit(victim, () => { throw new Error('broken'); }), /broken/);
  const blocker = fair.submit(flooder, () => new Promise<void>((resolve) => gates.push(resolve)));
  const blocker2 = fair.submit(flooder, () => new Promise<void>((resolve) => gates.push(resolve)));
  void fair.submit(victim, () => Promise.resolve('never'));
  fair.forget(victim);
  assert.equal(fair.stats().queued, 0);
  for (const gate of gates.splice(0)) gate();
  await Promise.all([blocker, blocker2]);
});
