// Write-ahead log: group commit batches concurrent commits into one write+fsync; the reader returns exactly
// the appended records; on a simulated disk, power loss at random points over many seeds never loses an
// acknowledged record and never yields anything but a prefix of what was appended; a torn or garbage tail
// is cut; a flipped bit before a later batch is refused with the file and offset; write/fsync failures
// (EIO, ENOSPC, fsync) stop the log for good.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePayload, Decoder } from '../../../src/store/durability/codec.js';
import { StoreDamagedError, StoreFailedError } from '../../../src/store/errors.js';
import { SimDisk, type FaultKind } from '../../../src/store/durability/sim-disk.js';
import { LogWriter, logFileName, readLog } from '../../../src/store/durability/wal.js';
import type { CommitRecord } from '../../../src/store/interfaces.js';

const DIR = '/data';

function record(n: number): CommitRecord {
  const key = Buffer.alloc(8);
  key.writeUInt32BE(n, 4);
  return {
    writes: [
      { table: 'accounts', key, value: Buffer.alloc(n % 50, n % 251) },
      { table: 'accounts', key: Buffer.concat([key, Buffer.from([1])]), value: undefined },
      { table: 'other', key, value: Buffer.from([n & 0xff]) },
    ],
    extensions: n % 3 === 0 ? [{ kind: 'ledger', payload: Buffer.from(`batch ${n}`) }] : [],
  };
}

async function newDisk(seed: number): Promise<SimDisk> {
  const disk = new SimDisk(seed);
  await disk.mkdir(DIR);
  return disk;
}

async function openWriter(disk: SimDisk, firstLsn = 0, onFailure: (e: StoreFailedError) => void = () => undefined): Promise<LogWriter> {
  // A little preallocated space (not a multiple of the sector size), so torn writes also hit the zeros.
  const writer = new LogWriter(disk, DIR, firstLsn, onFailure, () => disk.prng.nextUint32(), 700);
  await writer.start();
  return writer;
}

async function readAll(disk: SimDisk, fromLsn = 0): Promise<Array<{ lsn: number; record: CommitRecord }>> {
  const out: Array<{ lsn: number; record: CommitRecord }> = [];
  await readLog(disk, DIR, fromLsn, (lsn, buffer, start, end) => {
    const payload = decodePayload(new Decoder(buffer, start, end));
    assert.equal(payload.kind, 'commit');
    if (payload.kind === 'commit') out.push({ lsn, record: payload.record });
  });
  return out;
}

function normalize(r: CommitRecord): unknown {
  return {
    writes: r.writes.map((w) => [w.table, Buffer.from(w.key).toString('hex'), w.value === undefined ? null : Buffer.from(w.value).toString('hex')]),
    extensions: r.extensions.map((e) => [e.kind, Buffer.from(e.payload).toString('hex')]),
  };
}

test('concurrent commits share writes and fsyncs, and read back in order with their contents', async () => {
  const disk = await newDisk(1);
  const writer = await openWriter(disk);
  await Promise.all(Array.from({ length: 200 }, (_, n) => writer.appendCommit(record(n))));
  assert.ok(writer.batchesWritten < 20, `200 concurrent commits took ${writer.batchesWritten} batches`);
  await writer.appendSequence('ids', 4096n);
  await writer.close();
  const kinds: string[] = [];
  await readLog(disk, DIR, 0, (_lsn, buffer, start, end) => {
    const payload = decodePayload(new Decoder(buffer, start, end));
    kinds.push(payload.kind === 'sequence' ? `${payload.name}:${String(payload.highWater)}` : 'commit');
  });
  assert.equal(kinds.length, 201);
  assert.equal(kinds[200], 'ids:4096');
});

test('records read back exactly, across rotations, skipping those a snapshot covers', async () => {
  const disk = await newDisk(2);
  const writer = await openWriter(disk);
  for (let n = 0; n < 30; n++) {
    await writer.appendCommit(record(n));
    if (n % 10 === 9) await writer.rotate().created;
  }
  await writer.close();
  const all = await readAll(disk);
  assert.deepEqual(all.map((r) => r.lsn), Array.from({ length: 30 }, (_, n) => n));
  for (const { lsn, record: r } of all) assert.deepEqual(normalize(r), normalize(record(lsn)));
  const later = await readAll(disk, 15);
  assert.deepEqual(later.map((r) => r.lsn), Array.from({ length: 15 }, (_, n) => n + 15));
  assert.equal((await disk.readdir(DIR)).filter((n) => n.endsWith('.wal')).length, 4);
});

test('power loss at random points over 300 seeds keeps every acknowledged commit and yields a prefix', async () => {
  for (let seed = 1; seed <= 300; seed++) {
    const disk = await newDisk(seed);
    const writer = await openWriter(disk);
    let acknowledged = 0;
    const total = 5 + disk.prng.int(60);
    const crashAt = disk.prng.int(total);
    const inFlight: Promise<void>[] = [];
    for (let n = 0; n < total; n++) {
      if (n === crashAt) break;
      const done = writer.appendCommit(record(n)).then(() => {
        acknowledged = Math.max(acknowledged, n + 1);
      });
      inFlight.push(done.catch(() => undefined));
      if (disk.prng.chance(0.3)) await done;
      if (disk.prng.chance(0.05)) await writer.rotate().created;
    }
    disk.crash();
    await Promise.all(inFlight);
    disk.powerLoss();
    const records = await readAll(disk);
    assert.ok(records.length >= acknowledged, `seed ${seed}: ${records.length} records, ${acknowledged} acknowledged`);
    records.forEach((r, i) => {
      assert.equal(r.lsn, i);
      assert.deepEqual(normalize(r.record), normalize(record(i)), `seed ${seed}: record ${i}`);
    });
  }
});

/** Records 5..9 of a log written by another writer (another salt): stale bytes that look like records. */
async function staleRecords(): Promise<Buffer> {
  const other = await newDisk(99);
  const writer = await openWriter(other);
  for (let n = 0; n < 10; n++) await writer.appendCommit(record(n));
  await writer.close();
  const bytes = Buffer.from(other.peek(`${DIR}/${logFileName(0)}`));
  return bytes.subarray(bytes.length >> 1);
}

test('a tail of zeros, garbage, a partial record or stale records of another file is cut off', async () => {
  for (const tail of [Buffer.alloc(700), Buffer.from('garbage that is not a record at all'), Buffer.from([40, 0, 0, 0, 9, 9]), await staleRecords()]) {
    const disk = await newDisk(3);
    const writer = await openWriter(disk);
    for (let n = 0; n < 5; n++) await writer.appendCommit(record(n));
    await writer.close();
    const path = `${DIR}/${logFileName(0)}`;
    disk.corrupt(path, disk.peek(path).length, tail);
    assert.equal((await readAll(disk)).length, 5);
  }
});

test('a flipped bit in a record followed by later batches is refused with file and offset', async () => {
  const disk = await newDisk(4);
  const writer = await openWriter(disk);
  for (let n = 0; n < 20; n++) await writer.appendCommit(record(n));
  await writer.close();
  const path = `${DIR}/${logFileName(0)}`;
  const middle = Math.floor(disk.peek(path).length / 2);
  disk.corrupt(path, middle, Buffer.from([disk.peek(path)[middle] ^ 0x10]));
  await assert.rejects(readAll(disk), (error: StoreDamagedError) => {
    assert.equal(error.code, 'STORE_DAMAGED');
    assert.equal(error.file, logFileName(0));
    assert.ok(error.offsetBytes > 0 && error.offsetBytes <= middle);
    return true;
  });
});

test('damage in a log file that is not the last is refused', async () => {
  const disk = await newDisk(5);
  const writer = await openWriter(disk);
  for (let n = 0; n < 4; n++) await writer.appendCommit(record(n));
  await writer.rotate().created;
  await writer.appendCommit(record(4));
  await writer.close();
  const path = `${DIR}/${logFileName(0)}`;
  disk.corrupt(path, disk.peek(path).length - 3, Buffer.from([0xff]));
  await assert.rejects(readAll(disk), StoreDamagedError);
});

test('each injected fault, once or permanent, fails the commit in flight and every later one; nothing retried', async () => {
  for (const kind of ['EIO', 'ENOSPC', 'FSYNC'] as FaultKind[]) {
    for (const permanent of [false, true]) {
      const disk = await newDisk(6);
      const failures: StoreFailedError[] = [];
      const writer = await openWriter(disk, 0, (e) => failures.push(e));
      await writer.appendCommit(record(0));
      disk.injectFault(kind, 1, permanent);
      await assert.rejects(writer.appendCommit(record(1)), StoreFailedError);
      await assert.rejects(writer.appendCommit(record(2)), (e: StoreFailedError) => e.code === 'STORE_FAILED');
      await assert.rejects(writer.durableNow()!, StoreFailedError);
      assert.equal(failures.length, 1, `${kind}: onFailure called once`);
      await writer.close();
    }
  }
});
