// The official tigerbeetle-node client against a Purser node, unmodified: start the node with
// `npm start -- --tb-address 3000`, then `node examples/tigerbeetle-client.mjs` (TB_ADDRESS picks another port).
// Every account and transfer field must be given, as with TigerBeetle itself.
import { createClient, id, CreateAccountStatus, CreateTransferStatus } from 'tigerbeetle-node';

const client = createClient({ cluster_id: 0n, replica_addresses: [process.env.TB_ADDRESS ?? '3000'] });
const account = (accountId) => ({
  id: accountId, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n,
  user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n,
});
const [payer, payee] = [id(), id()];
const accountResults = await client.createAccounts([account(payer), account(payee)]);
const transferResults = await client.createTransfers([{
  id: id(), debit_account_id: payer, credit_account_id: payee, amount: 1_250n, pending_id: 0n,
  user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n,
}]);
const accounts = await client.lookupAccounts([payer, payee]);
const created = accountResults.every((r) => r.status === CreateAccountStatus.created) && transferResults.every((r) => r.status === CreateTransferStatus.created);
console.log(created ? 'created' : { accountResults, transferResults }, accounts.map((a) => [a.debits_posted, a.credits_posted]));
client.destroy();
