// SimDisk: the simulated disk keeps synced data across a power loss, loses or tears unsynced data at
// sector granularity reproducibly from its seed, forgets unsynced renames, and injects EIO, ENOSPC and
// fsync failures at the Nth call, once or permanently.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SECTOR_SIZE_BYTES, SimDisk, SimDiskError } from '../../../src/store/durability/sim-disk.js';

async function newDisk(seed: number): Promise<SimDisk> {
  const disk = new SimDisk(seed);
  await disk.mkdir('/data');
  return disk;
}

test('synced writes and synced names survive a power loss; open handles die', async () => {
  const disk = await newDisk(1);
  const file = await disk.open('/data/a', 'create');
  await file.write(Buffer.from('hello'), 0);
  await file.sync();
  await disk.syncDirectory('/data');
  disk.powerLoss();
  assert.deepEqual(Buffer.from(await disk.readFile('/data/a')).toString(), 'hello');
  await assert.rejects(file.write(Buffer.from('x'), 0), (error: SimDiskError) => error.code === 'EBADF');
});

test('a file whose creation was never made durable by a directory fsync is gone after power loss (for some seeds)', async () => {
  let lost = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const disk = await newDisk(seed);
    const file = await disk.open('/data/a', 'create');
    await file.write(Buffer.from('x'), 0);
    await file.sync();
    disk.powerLoss();
    if (!(await disk.exists('/data/a'))) lost++;
  }
  assert.ok(lost > 0 && lost < 40, `lost ${lost} of 40`);
});

test('unsynced writes are dropped, kept or torn per sector, and the outcome repeats for a seed', async () => {
  const outcomes = new Set<string>();
  const run = async (seed: number) => {
    const disk = await newDisk(seed);
    const file = await disk.open('/data/a', 'create');
    await file.write(Buffer.alloc(4 * SECTOR_SIZE_BYTES, 1), 0);
    await file.sync();
    await disk.syncDirectory('/data');
    await file.write(Buffer.alloc(4 * SECTOR_SIZE_BYTES, 2), 0);
    disk.powerLoss();
    const bytes = await disk.readFile('/data/a');
    const sectors = [0, 1, 2, 3].map((i) => bytes[i * SECTOR_SIZE_BYTES]);
    for (let i = 0; i < 4; i++) assert.ok(bytes.subarray(i * SECTOR_SIZE_BYTES, (i + 1) * SECTOR_SIZE_BYTES).every((b) => b === sectors[i]), 'a sector is all old or all new');
    return sectors.join('');
  };
  for (let seed = 1; seed <= 60; seed++) {
    const outcome = await run(seed);
    assert.equal(await run(seed), outcome, 'same seed, same outcome');
    outcomes.add(outcome);
  }
  assert.ok(outcomes.has('1111'), 'all dropped happens');
  assert.ok(outcomes.has('2222'), 'all kept happens');
  assert.ok(outcomes.size > 4, `torn mixes happen (${[...outcomes].join(',')})`);
});

test('EIO, ENOSPC and fsync faults fire at the Nth call, once or permanently', async () => {
  for (const kind of ['EIO', 'ENOSPC', 'FSYNC'] as const) {
    for (const permanent of [false, true]) {
      const disk = await newDisk(7);
      const file = await disk.open('/data/a', 'create');
      disk.injectFault(kind, 2, permanent);
      const call = () => (kind === 'FSYNC' ? file.sync() : file.write(Buffer.from('x'), 0));
      await call();
      await assert.rejects(call(), (error: SimDiskError) => error.code === (kind === 'ENOSPC' ? 'ENOSPC' : 'EIO'));
      if (permanent) await assert.rejects(call());
      else await call();
    }
  }
});

test('crashAfter freezes the disk at an exact operation until powerLoss', async () => {
  const disk = await newDisk(3);
  const file = await disk.open('/data/a', 'create');
  disk.crashAfter(1);
  await file.write(Buffer.from('a'), 0);
  await assert.rejects(file.write(Buffer.from('b'), 1), (error: SimDiskError) => error.code === 'ECRASHED');
  await assert.rejects(disk.readdir('/data'), (error: SimDiskError) => error.code === 'ECRASHED');
  disk.powerLoss();
  assert.ok(Array.isArray(await disk.readdir('/data')));
});
