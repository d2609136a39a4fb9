// BALANCE: an account's balance with its limits. Shows a typed failure (ServiceFailure: the caller gets
// TPESVCFAIL with the urcode and data) and a nested call that inherits the caller's deadline.
import { ServiceFailure } from 'purser';

export default async function balance(request) {
  const account = request.data?.account;
  if (typeof account !== 'string' || account.length === 0) throw new ServiceFailure(51, { reason: 'no account' });
  const limits = await request.call('LIMITS', { account });
  return { account, balanceMinor: 10_000, limits: limits.data };
}
