// Module resolution hook: inside test/ledger/, `./_client.js` resolves to test/node/listeners/tigerbeetle/_wire-client.ts,
// so the ledger's semantic tests run against the official client over the wire without being edited.
export async function resolve(specifier, context, nextResolve) {
  if (specifier === './_client.js' && context.parentURL?.includes('/test/ledger/')) {
    return nextResolve(new URL('./_wire-client.ts', import.meta.url).href, context);
  }
  return nextResolve(specifier, context);
}
