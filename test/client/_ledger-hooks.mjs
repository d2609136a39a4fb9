// Module resolution hook: inside test/ledger/, `./_client.js` resolves to test/client/_ledger-client.ts, so
// the ledger's semantic tests run through connect() and the bus listener without being edited.
export async function resolve(specifier, context, nextResolve) {
  if (specifier === './_client.js' && context.parentURL?.includes('/test/ledger/')) {
    return nextResolve(new URL('./_ledger-client.ts', import.meta.url).href, context);
  }
  return nextResolve(specifier, context);
}
