// Dump and load: a store with several tables, deletes and a sequence is dumped, loaded into a new
// directory and dumped again — the two dumps are byte-identical and the loaded store reads the same;
// truncated, altered, foreign and missing dump files are refused with DUMP_INVALID before anything is
// written (the target directory is not even created); loading into a store that holds data is refused;
// the CLI commands dump, load and checkpoint work end to end and refuse bad flags.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../../../src/cli/main.js';
import { checkpointStore } from '../../../src/store/durability/attach.js';
import { dumpStore, loadStore } from '../../../src/store/durability/dump.js';
import { DumpInvalidError, StoreNotEmptyError } from '../../../src/store/errors.js';
import { openStore } from '../../../src/store/store.js';
import { InvalidArgumentError } from '../../../src/errors.js';
import { capturing } from '../../cli/_capture.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'purser-dump-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function fill(dir: string): Promise<void> {
  const store = await openStore({ dir });
  await store.transaction(async (tx) => {
    for (let i = 0; i < 3000; i++) await tx.put('alpha', Buffer.from(`key-${String(i).padStart(5, '0')}`), Buffer.alloc(i % 200, i & 0xff));
    for (let i = 0; i < 50; i++) await tx.put('beta', Buffer.from([i]), Buffer.from(`v${i}`));
  });
  await store.transaction(async (tx) => {
    for (let i = 0; i < 3000; i += 7) await tx.delete('alpha', Buffer.from(`key-${String(i).padStart(5, '0')}`));
  });
  const ids = store.sequence('ids');
  for (let i = 0; i < 5; i++) await ids.next();
  await store.close();
}

async function contents(dir: string): Promise<string[]> {
  const store = await openStore({ dir });
  try {
    return await store.transaction(async (tx) => {
      const out: string[] = [];
      for (const table of ['alpha', 'beta']) for await (const [k, v] of tx.range(table)) out.push(`${table}:${Buffer.from(k).toString('hex')}=${Buffer.from(v).toString('hex')}`);
      return out;
    });
  } finally {
    await store.close();
  }
}

test('dump, load, dump again: byte-identical, same contents, sequence continues above', async () => {
  const source = join(work, 'source');
  await fill(source);
  const first = join(work, 'first.dump');
  const dumped = await dumpStore({ dir: source, file: first });
  assert.equal(dumped.records, 3000 - 429 + 50);
  const target = join(work, 'target');
  const loaded = await loadStore({ dir: target, file: first });
  assert.equal(loaded.records, dumped.records);
  const second = join(work, 'second.dump');
  await dumpStore({ dir: target, file: second });
  assert.deepEqual(await readFile(second), await readFile(first));
  assert.deepEqual(await contents(target), await contents(source));
  const store = await openStore({ dir: target });
  assert.ok((await store.sequence('ids').next()) >= 5n);
  await store.close();
});

test('truncated, altered, foreign or missing dumps are refused before anything is written', async () => {
  const source = join(work, 'source2');
  await fill(source);
  const good = join(work, 'good.dump');
  await dumpStore({ dir: source, file: good });
  const bytes = await readFile(good);
  const variants: Array<[string, Buffer]> = [
    ['truncated at the end', bytes.subarray(0, bytes.length - 5)],
    ['truncated in the middle', bytes.subarray(0, bytes.length >> 1)],
    ['a flipped bit in the middle', Buffer.concat([bytes.subarray(0, bytes.length >> 1), Buffer.from([bytes[bytes.length >> 1] ^ 4]), bytes.subarray((bytes.length >> 1) + 1)])],
    ['a flipped bit in the header', Buffer.concat([bytes.subarray(0, 17), Buffer.from([bytes[17] ^ 1]), bytes.subarray(18)])],
    ['not a dump', Buffer.from('hello, this is not a dump file at all, but it is long enough')],
    ['empty', Buffer.alloc(0)],
  ];
  for (const [what, content] of variants) {
    const file = join(work, 'bad.dump');
    await writeFile(file, content);
    const target = join(work, `never-${what.replaceAll(' ', '-')}`);
    await assert.rejects(loadStore({ dir: target, file }), (error: DumpInvalidError) => error.code === 'DUMP_INVALID' && error.message.includes(file), what);
    assert.equal(await exists(target), false, `${what}: nothing written`);
  }
  await assert.rejects(loadStore({ dir: join(work, 'never-missing'), file: join(work, 'no-such.dump') }), DumpInvalidError);
  await assert.rejects(dumpStore({ dir: join(work, 'no-such-dir'), file: join(work, 'never.dump') }), InvalidArgumentError);
  assert.equal(await exists(join(work, 'no-such-dir')), false);
});

test('loading into a store that holds data is refused; bad input to the durability entry points is refused', async () => {
  const source = join(work, 'source3');
  await fill(source);
  const file = join(work, 'three.dump');
  await dumpStore({ dir: source, file });
  await assert.rejects(loadStore({ dir: source, file }), (error: StoreNotEmptyError) => error.code === 'STORE_NOT_EMPTY');
  const memory = await openStore();
  assert.throws(() => checkpointStore(memory), InvalidArgumentError);
  await memory.close();
  await assert.rejects(openStore({ dir: join(work, 'x'), checkpointLogBytes: -1 }), InvalidArgumentError);
  await assert.rejects(openStore({ dir: join(work, 'y'), onFailure: 'no' as unknown as () => void }), InvalidArgumentError);
  for (const bad of [null, {}, { dir: '', file: 'x' }, { dir: 'x', file: 3 }, { dir: 'x', file: 'y', onProgress: 1 }]) {
    await assert.rejects(dumpStore(bad as never), InvalidArgumentError);
    await assert.rejects(loadStore(bad as never), InvalidArgumentError);
  }
});

test('purser dump, load and checkpoint on the command line', async () => {
  const source = join(work, 'cli-source');
  await fill(source);
  const file = join(work, 'cli.dump');
  const write = process.stdout.write.bind(process.stdout);
  const lines: string[] = [];
  process.stdout.write = capturing(write, lines);
  try {
    assert.equal(await main(['checkpoint', '--dir', source], {}), 0);
    assert.equal(await main(['dump', '--dir', source, '--out', file], {}), 0);
    assert.equal(await main(['load', '--dir', join(work, 'cli-target'), '--in', file], {}), 0);
  } finally {
    process.stdout.write = write;
  }
  assert.match(lines.join(''), /checkpoint of .* covers LSN \d+/);
  assert.match(lines.join(''), /dumped 2621 records/);
  assert.match(lines.join(''), /loaded 2621 records/);
  assert.deepEqual(await contents(join(work, 'cli-target')), await contents(source));
  const stderr = process.stderr.write.bind(process.stderr);
  process.stderr.write = capturing(stderr, []);
  try {
    assert.equal(await main(['dump', '--dir', source, '--bogus'], {}), 2);
    assert.equal(await main(['checkpoint', '--dir', source, '--url', 'http://127.0.0.1:1'], {}), 2);
    assert.equal(await main(['load', '--dir', join(work, 'cli-none'), '--in', join(work, 'missing.dump')], {}), 1);
  } finally {
    process.stderr.write = stderr;
  }
});
