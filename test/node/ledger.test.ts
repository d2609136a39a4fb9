// The node hosts the ledger on its store: node.ledger takes requests, and after a graceful restart on the
// same data directory the accounts, balances and transfers are all there.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CreateTransferStatus, startNode } from 'purser';
import { account, transfer } from '../ledger/_client.js';
import pino from 'pino';

test('node.ledger persists across a restart of the node', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'purser-ledger-node-'));
  const logger = pino({ level: 'silent' });
  try {
    const first = await startNode({ dir, httpPort: 0, logger });
    await first.ledger.createAccounts([account(1n), account(2n)]);
    const results = await first.ledger.createTransfers([transfer(10n, 1n, 2n, 42n), transfer(11n, 2n, 1n, 2n)]);
    assert.ok(results.every((r) => r.status === CreateTransferStatus.created));
    await first.close();
    const second = await startNode({ dir, httpPort: 0, logger });
    const [a] = await second.ledger.lookupAccounts([1n]);
    assert.equal(a.debits_posted, 42n);
    assert.equal(a.credits_posted, 2n);
    assert.deepEqual((await second.ledger.lookupTransfers([10n, 11n])).map((t) => t.amount), [42n, 2n]);
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
