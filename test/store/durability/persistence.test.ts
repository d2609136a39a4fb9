// Persistence (recovery, checkpoints, directory lock, failure) on the simulated disk with a model engine:
// state survives close/reopen and checkpoints; power loss at random points over many seeds — with
// concurrent commits, automatic and manual checkpoints — recovers exactly a prefix of the commits that
// includes every acknowledged one and keeps the money total; a crash at every step of a checkpoint and of
// a recovery recovers the same state; a flipped bit refuses to open naming file and offset; each injected
// fault kind, once and permanent, stops the store; a second open of a directory is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreDamagedError, StoreFailedError, StoreLockedError } from '../../../src/store/errors.js';
import { Persistence, type PersistenceOptions } from '../../../src/store/durability/persistence.js';
import { SimDisk, type FaultKind } from '../../../src/store/durability/sim-disk.js';
import type { CommitRecord } from '../../../src/store/interfaces.js';
import { ModelEngine } from './_model-engine.js';

const DIR = '/data';
const ACCOUNTS = 8;
const INITIAL_BALANCE = 1000;

function amountKey(account: number): Uint8Array {
  return Buffer.from([0, account]);
}

function balanceBytes(value: number): Uint8Array {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64BE(BigInt(value));
  return bytes;
}

/** Commit i moves money between two accounts and records transfer i; the model's balances follow along. */
class Workload {
  balances = Array.from({ length: ACCOUNTS }, () => INITIAL_BALANCE);

  seed(): CommitRecord {
    return { writes: this.balances.map((b, a) => ({ table: 'balances', key: amountKey(a), value: balanceBytes(b) })), extensions: [] };
  }

  transfer(i: number): CommitRecord {
    const from = i % ACCOUNTS;
    const to = (i * 7 + 3) % ACCOUNTS;
    const amount = (i % 13) + 1;
    this.balances[from] -= amount;
    this.balances[to] += amount;
    const id = Buffer.alloc(4);
    id.writeUInt32BE(i);
    const writes = [
      { table: 'balances', key: amountKey(from), value: balanceBytes(this.balances[from]) },
      { table: 'balances', key: amountKey(to), value: balanceBytes(this.balances[to]) },
      { table: 'transfers', key: id, value: Buffer.alloc(40 + (i % 300), i & 0xff) },
    ].sort((a, b) => (a.table === b.table ? Buffer.compare(a.key, b.key) : a.table < b.table ? -1 : 1));
    if (from === to) writes.splice(1, 1);
    return { writes, extensions: [] };
  }
}

/**
 * Lets work the crashed store had scheduled (an automatic checkpoint starts on setImmediate) run into the
 * crashed disk and fail, as it would have died with the process, instead of touching the disk after reboot.
 */
async function dyingWorkDone(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function newDisk(seed: number): Promise<SimDisk> {
  const disk = new SimDisk(seed);
  await disk.mkdir(DIR);
  return disk;
}

async function open(disk: SimDisk, options: Partial<PersistenceOptions> = {}): Promise<{ engine: ModelEngine; persistence: Persistence }> {
  const engine = new ModelEngine();
  const persistence = await Persistence.open(engine, { dir: DIR, fs: disk, random: () => disk.prng.nextUint32(), logPreallocateBytes: 1500, ...options });
  return { engine, persistence };
}

function total(engine: ModelEngine): number {
  let sum = 0;
  for (const value of engine.tables.get('balances')?.values() ?? []) sum += Number(Buffer.from(value).readBigInt64BE());
  return sum;
}

/** The number of transfers present, checking that they are exactly transfers 0..n-1 and balances match. */
function checkPrefix(engine: ModelEngine, label: string): number {
  const transfers = engine.tables.get('transfers') ?? new Map<string, Uint8Array>();
  const ids = [...transfers.keys()].map((k) => Buffer.from(k, 'hex').readUInt32BE()).sort((a, b) => a - b);
  ids.forEach((id, index) => assert.equal(id, index, `${label}: transfers are a prefix`));
  if (engine.tables.get('balances')) {
    const model = new Workload();
    for (let i = 0; i < ids.length; i++) model.transfer(i);
    model.balances.forEach((b, a) => assert.equal(Number(Buffer.from(engine.tables.get('balances')!.get(Buffer.from(amountKey(a)).toString('hex'))!).readBigInt64BE()), b, `${label}: balance ${a}`));
    assert.equal(total(engine), ACCOUNTS * INITIAL_BALANCE, `${label}: money total`);
  }
  return ids.length;
}

test('state survives close and reopen, with and without a checkpoint; obsolete files are removed', async () => {
  const disk = await newDisk(1);
  let { engine, persistence } = await open(disk);
  const workload = new Workload();
  await engine.commit(workload.seed());
  for (let i = 0; i < 50; i++) await engine.commit(workload.transfer(i));
  await persistence.logSequence('ids', 4096n);
  engine.setSequenceState({ name: 'ids', highWater: 4096n });
  await persistence.close();
  const before = engine.state();
  ({ engine, persistence } = await open(disk));
  assert.deepEqual(engine.state(), before);
  const result = await persistence.checkpoint();
  assert.ok(result.coveredLsn >= 52);
  for (let i = 50; i < 60; i++) await engine.commit(workload.transfer(i));
  await persistence.close();
  const after = engine.state();
  ({ engine, persistence } = await open(disk));
  assert.deepEqual(engine.state(), after);
  assert.equal(checkPrefix(engine, 'reopen'), 60);
  const files = (await disk.readdir(DIR)).sort();
  assert.equal(files.filter((f) => f.endsWith('.snap')).length, 1);
  assert.ok(files.every((f) => !f.endsWith('.tmp')));
  await persistence.close();
});

test('power loss at random points over 150 seeds, with concurrent commits and checkpoints, keeps every acknowledged commit', async () => {
  for (let seed = 1; seed <= 150; seed++) {
    const disk = await newDisk(seed);
    const { engine, persistence } = await open(disk, { checkpointLogBytes: 2000 + disk.prng.int(20000) });
    const workload = new Workload();
    await engine.commit(workload.seed());
    let acknowledged = 0;
    const pending: Promise<unknown>[] = [];
    const count = 20 + disk.prng.int(80);
    for (let i = 0; i < count; i++) {
      const done = engine.commit(workload.transfer(i)).then(() => {
        acknowledged = Math.max(acknowledged, i + 1);
      });
      pending.push(done.catch(() => undefined));
      if (disk.prng.chance(0.2)) await done;
      if (disk.prng.chance(0.03)) pending.push(persistence.checkpoint().catch(() => undefined));
    }
    if (disk.prng.chance(0.5)) await new Promise((resolve) => setImmediate(resolve));
    disk.crash();
    await Promise.all(pending);
    await dyingWorkDone();
    disk.powerLoss();
    const reopened = await open(disk);
    const present = checkPrefix(reopened.engine, `seed ${seed}`);
    assert.ok(present >= acknowledged, `seed ${seed}: ${present} present, ${acknowledged} acknowledged`);
    await reopened.persistence.close();
  }
});

/** Builds a directory in a state that needs recovery work: a checkpoint, more commits, a torn tail. */
async function crashedDirectory(seed: number): Promise<SimDisk> {
  const disk = await newDisk(seed);
  const { engine, persistence } = await open(disk);
  const workload = new Workload();
  await engine.commit(workload.seed());
  for (let i = 0; i < 30; i++) await engine.commit(workload.transfer(i));
  await persistence.checkpoint();
  const pending = [];
  for (let i = 30; i < 60; i++) pending.push(engine.commit(workload.transfer(i)).catch(() => undefined));
  await new Promise((resolve) => setImmediate(resolve));
  disk.crash();
  await Promise.all(pending);
  await dyingWorkDone();
  disk.powerLoss();
  return disk;
}

test('a crash at every step of recovery, repeated, recovers the same state as an uninterrupted recovery', async () => {
  let crashes = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const reference = await open(await crashedDirectory(seed));
    const expected = reference.engine.state();
    checkPrefix(reference.engine, `seed ${seed}`);
    await reference.persistence.close();
    for (let crashAfter = 0; crashAfter < 12; crashAfter++) {
      const disk = await crashedDirectory(seed);
      disk.crashAfter(crashAfter);
      const crashed = await open(disk).catch((error: Error) => error);
      if (!(crashed instanceof Error)) {
        // Recovery needed fewer steps than crashAfter: nothing left to interrupt for this seed.
        await crashed.persistence.close();
        continue;
      }
      crashes++;
      disk.powerLoss();
      const again = await open(disk);
      assert.deepEqual(again.engine.state(), expected, `seed ${seed}, crash after ${crashAfter} steps of recovery`);
      await again.persistence.close();
    }
  }
  // Each seed's recovery has at least six disk steps to interrupt (the directory lock takes none: it is the kernel's).
  assert.ok(crashes >= 12 * 6, `recovery was interrupted ${crashes} times`);
});

test('a crash at every step of a checkpoint recovers a prefix with every acknowledged commit', async () => {
  let interrupted = 0;
  for (let crashAfter = 0; crashAfter < 14; crashAfter++) {
    for (let seed = 1; seed <= 4; seed++) {
      const disk = await newDisk(seed * 100 + crashAfter);
      const { engine, persistence } = await open(disk);
      const workload = new Workload();
      await engine.commit(workload.seed());
      for (let i = 0; i < 40; i++) await engine.commit(workload.transfer(i));
      disk.crashAfter(crashAfter);
      const checkpoint = persistence.checkpoint().catch((error: Error) => error);
      const more = [40, 41, 42].map((i) => engine.commit(workload.transfer(i)).then(() => i + 1, () => 0));
      if ((await checkpoint) instanceof Error) interrupted++;
      const acknowledged = Math.max(40, ...(await Promise.all(more)));
      disk.powerLoss();
      const reopened = await open(disk);
      const present = checkPrefix(reopened.engine, `crash after ${crashAfter}`);
      assert.ok(present >= acknowledged, `crash after ${crashAfter}: ${present} present, ${acknowledged} acknowledged`);
      await reopened.persistence.close();
    }
  }
  assert.ok(interrupted >= 40, `checkpoints interrupted: ${interrupted}`);
});

test('a flipped bit in the middle of the log refuses to open, naming the file and offset', async () => {
  const disk = await newDisk(5);
  const { engine, persistence } = await open(disk);
  const workload = new Workload();
  await engine.commit(workload.seed());
  for (let i = 0; i < 40; i++) await engine.commit(workload.transfer(i));
  await persistence.close();
  const log = (await disk.readdir(DIR)).find((f) => f.endsWith('.wal'))!;
  const bytes = disk.peek(`${DIR}/${log}`);
  const middle = Math.floor(bytes.length / 2);
  disk.corrupt(`${DIR}/${log}`, middle, Buffer.from([bytes[middle] ^ 1]));
  await assert.rejects(open(disk), (error: StoreDamagedError) => error.code === 'STORE_DAMAGED' && error.file === log && error.message.includes(log) && error.offsetBytes <= middle);
  // The refusal released the lock: after repair (here: undoing the flip) it opens.
  disk.corrupt(`${DIR}/${log}`, middle, Buffer.from([bytes[middle]]));
  const reopened = await open(disk);
  assert.equal(checkPrefix(reopened.engine, 'repaired'), 40);
  await reopened.persistence.close();
});

test('a damaged snapshot refuses to open, naming the file', async () => {
  const disk = await newDisk(6);
  const { engine, persistence } = await open(disk);
  const workload = new Workload();
  await engine.commit(workload.seed());
  for (let i = 0; i < 10; i++) await engine.commit(workload.transfer(i));
  await persistence.checkpoint();
  await persistence.close();
  const snapshot = (await disk.readdir(DIR)).find((f) => f.endsWith('.snap'))!;
  disk.corrupt(`${DIR}/${snapshot}`, 60, Buffer.from([0xee]));
  await assert.rejects(open(disk), (error: StoreDamagedError) => error.code === 'STORE_DAMAGED' && error.file === snapshot);
});

test('each injected fault kind, once and permanently, stops the store; acknowledged commits survive', async () => {
  for (const kind of ['EIO', 'ENOSPC', 'FSYNC'] as FaultKind[]) {
    for (const permanent of [false, true]) {
      for (const atCall of [1, 3, 7]) {
        const disk = await newDisk(atCall);
        const failures: StoreFailedError[] = [];
        const { engine, persistence } = await open(disk, { onFailure: (e) => failures.push(e) });
        const workload = new Workload();
        await engine.commit(workload.seed());
        disk.injectFault(kind, atCall, permanent);
        let acknowledged = 0;
        let failed = false;
        for (let i = 0; i < 20; i++) {
          try {
            await engine.commit(workload.transfer(i));
            assert.equal(failed, false, 'no commit is acknowledged after a failure');
            acknowledged = i + 1;
          } catch (error) {
            assert.ok(error instanceof StoreFailedError, `${kind}: typed error`);
            failed = true;
          }
        }
        assert.ok(failed, `${kind} at call ${atCall} stopped the store`);
        assert.equal(failures.length, 1, 'reported once');
        await assert.rejects(persistence.checkpoint(), StoreFailedError);
        await persistence.close();
        disk.powerLoss();
        const reopened = await open(disk);
        assert.ok(checkPrefix(reopened.engine, `${kind}`) >= acknowledged);
        await reopened.persistence.close();
      }
    }
  }
});

test('a second open of a locked directory fails; close releases it; a stale lock of a dead process is taken over', async () => {
  const disk = await newDisk(8);
  const first = await open(disk);
  await assert.rejects(open(disk), (error: StoreLockedError) => error.code === 'STORE_LOCKED' && error.message.includes(DIR));
  await first.persistence.close();
  const second = await open(disk);
  await second.persistence.close();
  const lock = await disk.open(`${DIR}/LOCK`, 'create');
  await lock.write(Buffer.from('999999999\n'), 0);
  await lock.close();
  const third = await open(disk);
  await third.persistence.close();
});
