// LIMITS: an account's spending limits, in minor units (cents). A stand-in for a lookup in a real system:
// the same answer for every account, so examples and tests can check it.
export default function limits(request) {
  const { account } = request.data ?? {};
  return { account, dailyMinor: 100_000, remainingMinor: 75_000 };
}
