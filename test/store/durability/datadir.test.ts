// The data directory as an operator meets it: a checkpoint that cannot write its snapshot (full disk) fails
// alone — temporary file removed, commits continue, counted, retried with back-off, nothing lost; a
// checkpoint with nothing new writes nothing; a torn log tail is cut with a warning naming the file and
// bytes; a file that is not a log is refused, never replaced; a non-empty foreign directory is refused
// before anything is written into it; and EACCES, ENOTDIR and ENOSPC are one-line typed errors, also
// from the CLI run as an unprivileged user; on a real full tmpfs too, and EROFS on a read-only one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { appendFile, chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { openStore } from '../../../src/store/store.js';
import { checkpointStore, storeDurability } from '../../../src/store/durability/attach.js';
import type { FileHandle, FileSystem } from '../../../src/store/durability/fs.js';
import type { DurabilityEvent } from '../../../src/store/durability/persistence.js';
import { SimDisk, SimDiskError } from '../../../src/store/durability/sim-disk.js';
import { PurserError } from '../../../src/errors.js';
import type { Store } from '../../../src/store/interfaces.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'purser-datadir-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const codeOf = (error: unknown) => (error instanceof PurserError ? error.code : String(error));

async function putMany(store: Store, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) await store.transaction(async (tx) => tx.put('t', Buffer.from(`k${String(i).padStart(4, '0')}`), Buffer.alloc(100, i & 0xff)));
}

async function keys(store: Store): Promise<number> {
  return store.transaction(async (tx) => {
    let count = 0;
    for await (const _entry of tx.range('t')) count++;
    return count;
  });
}

/** The simulated disk with a snapshot-sized hole: while `full`, writes to snapshot files fail with ENOSPC (the log's preallocated space still takes commits). */
function diskFullForSnapshots(disk: SimDisk): { fs: FileSystem; setFull: (full: boolean) => void } {
  let full = true;
  const fs: FileSystem = {
    open: async (path, mode) => {
      const handle = await disk.open(path, mode);
      if (!path.endsWith('.snap.tmp')) return handle;
      const wrapped: FileHandle = {
        read: (...args) => handle.read(...args),
        readSync: (...args) => handle.readSync(...args),
        write: (data, position) => (full ? Promise.reject(new SimDiskError('ENOSPC', `write ${path}`)) : handle.write(data, position)),
        sync: () => handle.sync(),
        datasync: () => handle.datasync(),
        truncate: (sizeBytes) => handle.truncate(sizeBytes),
        size: () => handle.size(),
        close: () => handle.close(),
      };
      return wrapped;
    },
    readFile: (path) => disk.readFile(path),
    rename: (from, to) => disk.rename(from, to),
    unlink: (path) => disk.unlink(path),
    readdir: (dir) => disk.readdir(dir),
    syncDirectory: (dir) => disk.syncDirectory(dir),
    exists: (path) => disk.exists(path),
    mkdir: (dir) => disk.mkdir(dir),
    lockExclusive: (path, note) => disk.lockExclusive(path, note),
  };
  return { fs, setFull: (value) => (full = value) };
}

/**
 * Waits for a state, polling every 10 ms (how soon the test notices; no verdict depends on it). No time cap:
 * a cap could expire on a busy machine, so a wait that never ends is left to the test runner.
 */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

test('a checkpoint on a full disk fails alone: temp file removed, commits continue, failure counted and retried, nothing lost', async () => {
  const disk = new SimDisk(7);
  await disk.mkdir('/data');
  const { fs, setFull } = diskFullForSnapshots(disk);
  const events: DurabilityEvent[] = [];
  const store = await openStore({ dir: '/data', fs, checkpointLogBytes: 0, onEvent: (event) => events.push(event) });
  await putMany(store, 0, 20);
  await assert.rejects(checkpointStore(store), (error: Error) => codeOf(error) === 'STORE_DISK_FULL' && /no space left/.test(error.message) && /keeps running on its log/.test(error.message) && !error.message.includes('\n'));
  assert.deepEqual((await disk.readdir('/data')).filter((name) => name.endsWith('.tmp')), [], 'the temporary snapshot is removed');
  assert.equal(storeDurability(store)?.failed, false, 'the store did not stop');
  assert.equal(storeDurability(store)?.checkpointFailures, 1);
  const failed = events.find((event) => event.kind === 'checkpoint-failed');
  assert.ok(failed?.kind === 'checkpoint-failed' && failed.retryInMs > 0, 'the failure is reported with its retry');
  await putMany(store, 20, 20); // commits go on
  setFull(false);
  await until(() => (storeDurability(store)?.checkpoints ?? 0) >= 1); // the retried checkpoint
  await putMany(store, 40, 5);
  await store.close();
  disk.powerLoss();
  const reopened = await openStore({ dir: '/data', fs: disk });
  assert.equal(await keys(reopened), 45);
  await reopened.close();
});

test('after a failed checkpoint a power loss loses nothing acknowledged', async () => {
  const disk = new SimDisk(8);
  await disk.mkdir('/data');
  const { fs } = diskFullForSnapshots(disk);
  const store = await openStore({ dir: '/data', fs, checkpointLogBytes: 0, onEvent: () => undefined });
  await putMany(store, 0, 30);
  await assert.rejects(checkpointStore(store), (error) => codeOf(error) === 'STORE_DISK_FULL');
  await putMany(store, 30, 30);
  disk.crash();
  await store.close().catch(() => undefined);
  disk.powerLoss();
  const reopened = await openStore({ dir: '/data', fs: disk });
  assert.equal(await keys(reopened), 60);
  await reopened.close();
});

test('a checkpoint with nothing committed since the last one writes nothing and says so', async () => {
  const dir = join(work, 'noop');
  const store = await openStore({ dir, checkpointLogBytes: 0 });
  await putMany(store, 0, 5);
  const first = await checkpointStore(store);
  assert.equal(first.unchanged, false);
  const second = await checkpointStore(store);
  assert.equal(second.unchanged, true);
  assert.equal(second.coveredLsn, first.coveredLsn);
  assert.equal(storeDurability(store)?.checkpoints, 1);
  await putMany(store, 5, 1);
  assert.equal((await checkpointStore(store)).unchanged, false);
  await store.close();
  const reopened = await openStore({ dir, checkpointLogBytes: 0 });
  assert.equal((await checkpointStore(reopened)).unchanged, true, 'a reopened store knows its snapshot covers everything');
  await reopened.close();
});

test('a torn log tail is cut with a warning naming the file and the bytes dropped; the next open is quiet', async () => {
  const dir = join(work, 'torn');
  let store = await openStore({ dir });
  await putMany(store, 0, 10);
  await store.close();
  const log = (await readdir(dir)).find((name) => name.endsWith('.wal'))!;
  await appendFile(join(dir, log), Buffer.alloc(100, 0xab)); // the end of a batch whose write never finished
  let events: DurabilityEvent[] = [];
  store = await openStore({ dir, onEvent: (event) => events.push(event) });
  assert.equal(await keys(store), 10);
  await store.close();
  const torn = events.find((event) => event.kind === 'torn-tail-cut');
  assert.ok(torn?.kind === 'torn-tail-cut', 'a warning');
  assert.equal(torn.file, log);
  assert.ok(torn.droppedBytes >= 100);
  assert.match(torn.message, new RegExp(`${log}: cut a torn tail of \\d+ bytes after byte \\d+`));
  events = [];
  store = await openStore({ dir, onEvent: (event) => events.push(event) });
  await store.close();
  assert.deepEqual(events.filter((event) => event.kind === 'torn-tail-cut'), []);
});

test('a log file that is not a log is refused with how to move it aside, and left as it was', async () => {
  const dir = join(work, 'garbage');
  await mkdir(dir);
  const path = join(dir, 'log-00000000000000000000.wal');
  const garbage = Buffer.from('these are not the records you are looking for\n'.repeat(50));
  await writeFile(path, garbage);
  await assert.rejects(openStore({ dir }), (error: Error) => codeOf(error) === 'STORE_DAMAGED' && error.message.includes(`mv ${path}`));
  assert.deepEqual(await readFile(path), garbage);
});

test('a non-empty directory that holds no store is refused before anything is written into it', async () => {
  const dir = join(work, 'foreign');
  await mkdir(dir);
  await writeFile(join(dir, 'notes.txt'), 'mine');
  await assert.rejects(openStore({ dir }), (error: Error) => codeOf(error) === 'STORE_NOT_A_DATA_DIRECTORY' && error.message.includes("'notes.txt'"));
  assert.deepEqual(await readdir(dir), ['notes.txt']);
  const mount = join(work, 'mount-point');
  await mkdir(join(mount, 'lost+found'), { recursive: true });
  const store = await openStore({ dir: mount });
  await store.close();
});

test('a data directory path through a file is STORE_NOT_A_DIRECTORY, one line', async () => {
  const file = join(work, 'a-file');
  await writeFile(file, 'x');
  await assert.rejects(openStore({ dir: join(file, 'data') }), (error: Error) => codeOf(error) === 'STORE_NOT_A_DIRECTORY' && !error.message.includes('\n'));
});

const BIN = fileURLToPath(new URL('../../../bin/purser.js', import.meta.url));
const asNobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
const canDropPrivileges = process.getuid?.() === 0 && spawnSync(asNobody[0], [...asNobody.slice(1), 'true']).status === 0;

test('run as another user, start, dump, load and checkpoint fail with one line: STORE_ACCESS_DENIED', { skip: canDropPrivileges ? false : 'needs root and setpriv to run the CLI as nobody' }, async () => {
  const parent = join(work, 'eacces');
  await mkdir(parent);
  await chmod(work, 0o755);
  await chmod(parent, 0o755);
  const dir = join(parent, 'data');
  const store = await openStore({ dir });
  await putMany(store, 0, 3);
  await store.close(); // dir is 0700, owned by root
  // A dump anyone may read, for `load` into a directory only root may write.
  const dump = join(parent, 'readable.dump');
  assert.equal(spawnSync(process.execPath, [BIN, 'dump', '--dir', dir, '--out', dump], { encoding: 'utf8', timeout: 30_000 }).status, 0);
  await chmod(dump, 0o644);
  const runs = [
    ['load', '--dir', join(dir, 'restored'), '--in', dump],
    ['dump', '--dir', dir, '--out', join(parent, 'out.dump')],
    ['checkpoint', '--dir', dir],
    ['start', '--dir', dir, '--http-port', '0', '--log-pretty', 'false'],
  ];
  for (const args of runs) {
    const run = spawnSync(asNobody[0], [...asNobody.slice(1), process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 1, `${args[0]}: exit 1 (${run.stderr})`);
    const lines = run.stderr.trim().split('\n').filter((line) => line.startsWith('purser:') || !line.startsWith('{'));
    assert.equal(lines.length, 1, `${args[0]}: one line, no stack: ${run.stderr}`);
    assert.match(lines[0], /permission denied .*\[STORE_ACCESS_DENIED\]$/, args[0]);
    assert.doesNotMatch(run.stderr, /unexpected failure/);
  }
});

test('the CLI says what opening a directory did: the torn tail it cut, and the records it recovered', async () => {
  const dir = join(work, 'cli-torn');
  const store = await openStore({ dir });
  await putMany(store, 0, 12);
  await store.close();
  const log = (await readdir(dir)).find((name) => name.endsWith('.wal'))!;
  await appendFile(join(dir, log), Buffer.alloc(64, 0xcd));
  const run = spawnSync(process.execPath, [BIN, 'checkpoint', '--dir', dir], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, new RegExp(`^purser: warning: .*${log}: cut a torn tail of \\d+ bytes`, 'm'));
  assert.match(run.stderr, /^purser: recovering: 12 records from the log$/m);
  assert.match(run.stdout, /checkpoint of .*: \d+ records/);
});

/** Mounts a tmpfs of `options` at a new directory; undefined where mounting is not allowed. */
function mountTmpfs(options: string): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const mountPoint = mkdtempSync(join(tmpdir(), 'purser-tmpfs-'));
  return spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mountPoint]).status === 0 ? mountPoint : undefined;
}

const tmpfsProbe = mountTmpfs('size=1m');
const canMount = tmpfsProbe !== undefined && spawnSync('umount', [tmpfsProbe]).status === 0;
if (tmpfsProbe !== undefined) rmdirSync(tmpfsProbe);

test('on a real full disk (a small tmpfs) a checkpoint fails with STORE_DISK_FULL and the store keeps committing; a read-only one is STORE_READ_ONLY', { skip: canMount ? false : 'needs root to mount a tmpfs' }, async () => {
  const full = mountTmpfs('size=14m,mode=0700')!;
  try {
    const dir = join(full, 'data');
    const store = await openStore({ dir, checkpointLogBytes: 0, onEvent: () => undefined });
    const value = Buffer.alloc(50 * 1024, 7);
    for (let i = 0; i < 160; i++) await store.transaction(async (tx) => tx.put('t', Buffer.from(`k${String(i).padStart(4, '0')}`), value)); // 8 MiB: with the log and its preallocation, about 6 MiB stay free: the snapshot does not fit
    await assert.rejects(checkpointStore(store), (error: Error) => codeOf(error) === 'STORE_DISK_FULL' && !error.message.includes('\n'));
    assert.deepEqual((await readdir(dir)).filter((name) => name.endsWith('.tmp')), []);
    for (let i = 160; i < 165; i++) await store.transaction(async (tx) => tx.put('t', Buffer.from(`k${String(i).padStart(4, '0')}`), Buffer.from('small')));
    assert.equal(storeDurability(store)?.failed, false);
    await store.close();
    const reopened = await openStore({ dir, checkpointLogBytes: 0 });
    assert.equal(await keys(reopened), 165);
    await reopened.close();
  } finally {
    if (spawnSync('umount', ['-l', full]).status === 0) rmdirSync(full);
  }
  const readOnly = mountTmpfs('ro,size=1m')!;
  try {
    await assert.rejects(openStore({ dir: readOnly }), (error: Error) => codeOf(error) === 'STORE_READ_ONLY' && /read-only/.test(error.message));
  } finally {
    if (spawnSync('umount', ['-l', readOnly]).status === 0) rmdirSync(readOnly);
  }
});
