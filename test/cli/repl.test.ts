// `purser repl`: the statement language (TigerBeetle repl syntax for the ledger, call, tmadmin verbs) with
// bad input refused by name, a console session against a started node (creates and looks up accounts,
// moves money, calls a service, runs admin verbs; a piped session exits 1 if a statement failed), and the
// real command with --command in a child process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { ConfigError, startNode } from 'purser';
import { parseStatement } from '../../src/cli/repl-parse.js';
import { Console } from '../../src/cli/repl.js';

const BIN = fileURLToPath(new URL('../../bin/purser.js', import.meta.url));
const silent = pino({ level: 'silent' });

test('ledger statements parse to full objects; fields left out are zero and a filter\'s limit is 10', () => {
  const created = parseStatement('create_accounts id=1 ledger=700 code=10 flags=linked|history, id=0x2 ledger=700 code=10;');
  assert.equal(created.kind, 'create_accounts');
  assert.deepEqual(created.kind === 'create_accounts' && created.accounts.map((a) => [a.id, a.ledger, a.code, a.flags, a.debits_posted, a.user_data_32]), [[1n, 700, 10, 0b1001, 0n, 0], [2n, 700, 10, 0, 0n, 0]]);
  const transfer = parseStatement('create_transfers id=9 debit_account_id=1 credit_account_id=2 amount=340282366920938463463374607431768211455 ledger=700 code=10 flags=pending timeout=60');
  assert.deepEqual(transfer.kind === 'create_transfers' && [transfer.transfers[0].amount, transfer.transfers[0].flags, transfer.transfers[0].timeout], [(1n << 128n) - 1n, 2, 60]);
  assert.deepEqual(parseStatement('lookup_accounts 1 2'), { kind: 'lookup_accounts', ids: [1n, 2n] });
  assert.deepEqual(parseStatement('lookup_transfers id=7, id=8;'), { kind: 'lookup_transfers', ids: [7n, 8n] });
  const filter = parseStatement('get_account_transfers account_id=1 flags=debits|credits|reversed');
  assert.deepEqual(filter.kind === 'get_account_transfers' && [filter.filter.account_id, filter.filter.limit, filter.filter.flags], [1n, 10, 0b111]);
  assert.deepEqual(parseStatement('call BALANCE {"account": "A1"}'), { kind: 'call', service: 'BALANCE', data: { account: 'A1' } });
  assert.deepEqual(parseStatement('resize PAY 3'), { kind: 'admin', verb: 'resize', args: ['PAY', '3'] });
  assert.deepEqual(parseStatement('   # a comment'), { kind: 'empty' });
});

test('bad statements are refused with what was wrong, as ConfigError', () => {
  const cases: Array<[string, RegExp]> = [
    ['create_accounts', /needs at least one object/],
    ['create_accounts id=1 ledger=1 code=1,', /object 2 is empty/],
    ['create_accounts id=1 color=red', /unknown field 'color'/],
    ['create_accounts id=1 code=65536', /code does not fit in u16/],
    ['create_accounts id=-1', /id must be an unsigned integer/],
    ['create_accounts id=1 id=2', /id given twice/],
    ['create_accounts id=1 flags=linked|sparkly', /unknown flag 'sparkly'.*linked/],
    ['create_transfers id=1 amount=340282366920938463463374607431768211456', /amount does not fit in u128/],
    ['create_accounts id 1', /expected key=value/],
    ['lookup_accounts', /needs ids/],
    ['lookup_accounts one', /id must be an unsigned integer/],
    ['get_account_transfers account_id=1, account_id=2', /takes one filter/],
    ['call', /needs a service name/],
    ['call ECHO {not json', /not valid JSON/],
    ['drop_database', /unknown statement 'drop_database'/],
    [`create_accounts ${Array.from({ length: 8190 }, () => 'id=1').join(',')}`, /at most 8189 objects/],
  ];
  for (const [line, message] of cases) {
    assert.throws(() => parseStatement(line), (error: unknown) => error instanceof ConfigError && message.test(error.message), line.slice(0, 60));
  }
});

function collector(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({ write(chunk: Buffer, _encoding, done) { chunks.push(chunk.toString()); done(); } }),
    text: () => chunks.join(''),
  };
}

test('a piped console session against a node: accounts, a transfer, lookups, a call, admin verbs; a failed statement makes it exit 1', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent });
  const out = collector();
  const err = collector();
  const session = new Console(`${node.busListener.host}:${node.busListener.port}`, node.http.url, out.stream, err.stream);
  try {
    node.bus.advertise('ECHO', (request) => request.data);
    const input = new PassThrough();
    input.end([
      'create_accounts id=1 ledger=1 code=1, id=2 ledger=1 code=1;',
      'create_accounts id=1 ledger=1 code=2;',
      'create_transfers id=10 debit_account_id=1 credit_account_id=2 amount=250 ledger=1 code=1;',
      'lookup_accounts 1 2',
      'get_account_transfers account_id=2',
      'call ECHO {"hello": "world"}',
      'psc',
      'call NOPE',
      'lookup_accounts 99',
      'exit',
      'lookup_accounts 1',
    ].join('\n'));
    const code = await session.loop(input, false);
    assert.equal(code, 1, 'call NOPE failed, so the session exits 1');
    const lines = out.text().split('\n');
    assert.deepEqual(lines.slice(0, 4), ['0: created', '1: created', '0: exists_with_different_code', '0: created']);
    const [payer, payee] = [JSON.parse(lines[4]) as Record<string, string>, JSON.parse(lines[5]) as Record<string, string>];
    assert.deepEqual([payer.id, payer.debits_posted, payee.id, payee.credits_posted], ['1', '250', '2', '250']);
    assert.equal((JSON.parse(lines[6]) as Record<string, string>).amount, '250');
    assert.equal(lines[7], '{"hello":"world"}');
    assert.match(out.text(), /^ECHO\s+1\s+0\s+0\s+0\s+AVAILABLE$/m);
    assert.match(out.text(), /no accounts found/);
    assert.equal(out.text().split('no accounts found').length, 2, 'nothing ran after exit');
    assert.match(err.text(), /^error: .*NOPE.*\[TPENOENT\]$/m);
    // The ledger really holds what the console created.
    const [account] = await node.ledger.lookupAccounts([2n]);
    assert.equal(account.credits_posted, 250n);
  } finally {
    await session.close();
    await node.close();
  }
});

test('purser repl --command runs one statement in a child process; a refused one exits 1, bad flags exit 2', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent });
  const run = (args: string[]) => promisify(execFile)(process.execPath, [BIN, 'repl', '--address', `${node.busListener.host}:${node.busListener.port}`, '--url', node.http.url, ...args], { encoding: 'utf8', timeout: 60_000 })
    .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }), (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }));
  try {
    const created = await run(['--command', 'create_accounts id=5 ledger=1 code=1']);
    assert.deepEqual([created.code, created.stdout], [0, '0: created\n']);
    const looked = await run(['--command', 'lookup_accounts 5']);
    assert.equal((JSON.parse(looked.stdout) as { id: string }).id, '5');
    const refused = await run(['--command', 'create_accounts id=5 flags=nonsense']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /unknown flag 'nonsense'/);
    const badFlag = await run(['--bogus']);
    assert.equal(badFlag.code, 2);
  } finally {
    await node.close();
  }
});
