// The descriptor table the bus and connect() share: numbering wraps and skips held numbers, outcomes go
// to the getReply waiting on their cd, else to TPGETANY callers in order, else wait; a taken or cancelled
// cd is stale; TPGETANY callers beyond the descriptors left are answered TPEBADDESC, not left waiting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XatmiError, type Reply } from 'purser';
import { CD_FIRST, DescriptorTable, type Descriptor } from '../../src/bus/descriptors.js';

interface Entry extends Descriptor<Entry> {
  readonly cd: number;
}

function entry(cd: number): Entry {
  return { cd, previous: undefined, next: undefined, list: undefined, resolve: undefined, reject: undefined, reply: undefined, error: undefined };
}

const reply = (cd: number, data: unknown): Reply => ({ cd, data, urcode: 0 });
const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'resolved', (error: unknown) => (error as XatmiError).code);

test('numbers run from CD_FIRST to the last cd, wrap, and skip those held here or elsewhere', () => {
  const elsewhere = new Set([CD_FIRST + 1]);
  const table = new DescriptorTable<Entry>({ lastCd: CD_FIRST + 3, inUseElsewhere: (cd) => elsewhere.has(cd) });
  const first = table.allocate();
  table.add(entry(first));
  assert.equal(first, CD_FIRST);
  assert.equal(table.allocate(), CD_FIRST + 2, 'skips a number used elsewhere');
  assert.equal(table.allocate(), CD_FIRST + 3);
  assert.equal(table.allocate(), CD_FIRST + 2, 'wraps past the held CD_FIRST and the one used elsewhere');
});

test('an outcome goes to its getReply, else to TPGETANY callers in order, else waits; taken cds are stale', async () => {
  const freed: number[] = [];
  const table = new DescriptorTable<Entry>({ onFreed: (freedEntry) => freed.push(freedEntry.cd) });
  const [a, b, c] = [entry(table.allocate()), entry(0), entry(0)];
  table.add(a);
  Object.assign(b, { cd: table.allocate() });
  table.add(b);
  Object.assign(c, { cd: table.allocate() });
  table.add(c);
  const byCd = table.getOne(a.cd, false);
  const any = table.getAny(false);
  table.settle(b, undefined, reply(b.cd, 'b'));
  table.settle(a, undefined, reply(a.cd, 'a'));
  assert.deepEqual(await byCd, reply(a.cd, 'a'));
  assert.deepEqual(await any, reply(b.cd, 'b'));
  table.settle(c, new XatmiError('TPETIME', 'late'), undefined);
  assert.equal(table.readyCount, 1);
  assert.equal(await codeOf(table.getAny(false)), 'TPETIME', 'a stored error is an outcome like a reply');
  assert.deepEqual(freed.sort(), [a.cd, b.cd, c.cd].sort());
  assert.throws(() => table.getOne(a.cd, false), (error: XatmiError) => error.code === 'TPEBADDESC');
  assert.equal(table.size, 0);
});

test('cancel answers the waiter TPEBADDESC, and TPGETANY callers beyond the descriptors left are refused', async () => {
  const table = new DescriptorTable<Entry>();
  const [a, b] = [entry(table.allocate()), entry(0)];
  table.add(a);
  Object.assign(b, { cd: table.allocate() });
  table.add(b);
  const waiting = table.getOne(a.cd, false);
  assert.throws(() => table.getOne(a.cd, false), (error: XatmiError) => error.code === 'TPEPROTO');
  assert.throws(() => table.getOne(b.cd, true), (error: XatmiError) => error.code === 'TPEBLOCK');
  const anyOne = table.getAny(false);
  const anyTwo = table.getAny(false);
  assert.equal(await codeOf(table.getAny(false)), 'TPEBADDESC', 'two descriptors left, and two callers wait already');
  table.cancel(a.cd);
  assert.equal(await codeOf(waiting), 'TPEBADDESC');
  assert.equal(await codeOf(anyTwo), 'TPEBADDESC', 'one descriptor left for two TPGETANY callers: the newest is refused');
  table.settle(b, undefined, reply(b.cd, 'b'));
  assert.deepEqual(await anyOne, reply(b.cd, 'b'));
  assert.throws(() => table.cancel(a.cd), (error: XatmiError) => error.code === 'TPEBADDESC');
});
