// Module resolution hook: inside test/ledger/, `./_client.js` resolves to the adapter named by
// PURSER_LEDGER_ADAPTER (a path), so the ledger's semantic tests run through a remote client without being
// edited. Installed by register.mjs.
let adapter;

export function initialize(data) {
  adapter = data?.adapter;
}

export async function resolve(specifier, context, nextResolve) {
  if (adapter && specifier === './_client.js' && context.parentURL?.includes('/test/ledger/')) {
    return nextResolve(adapter, context);
  }
  return nextResolve(specifier, context);
}
