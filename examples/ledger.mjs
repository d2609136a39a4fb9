import { openLedger, id, AccountFlags, CreateTransferStatus } from 'purser';

const ledger = await openLedger(); // in memory; openLedger({ dir: './ledger-data' }) keeps it on disk
const zero = { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, timestamp: 0n };
await ledger.createAccounts([ // every field is required, as in tigerbeetle-node
  { ...zero, id: 1n, ledger: 1, code: 1, flags: AccountFlags.history },
  { ...zero, id: 2n, ledger: 1, code: 1, flags: 0 },
]);
const [result] = await ledger.createTransfers([{
  id: id(), debit_account_id: 1n, credit_account_id: 2n, amount: 10n, pending_id: 0n,
  user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n,
}]);
console.log(CreateTransferStatus[result.status]); // created
const [payer] = await ledger.lookupAccounts([1n]);
console.log(payer.debits_posted); // 10n
await ledger.close(); // or destroy(), as tigerbeetle-node
