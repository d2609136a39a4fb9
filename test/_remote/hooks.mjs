// Module resolution hook: inside test/ledger/, `./_client.js` resolves to the adapter named by
// PURSER_LEDGER_ADAPTER (a path), so the ledger's semantic tests run through a remote client without being
// edited. Installed by register.mjs: in-thread with module.registerHooks where Node has it (Node 22.15+,
// where tsx uses it too, so an off-thread hook would never see the import), else off-thread with register().
let adapter;

export function initialize(data) {
  adapter = data?.adapter;
}

/** The specifier to resolve instead: the adapter for test/ledger's `./_client.js`, anything else unchanged. */
export function redirect(specifier, context, adapterUrl) {
  if (adapterUrl && specifier === './_client.js' && context.parentURL?.includes('/test/ledger/')) return adapterUrl;
  return specifier;
}

export async function resolve(specifier, context, nextResolve) {
  return nextResolve(redirect(specifier, context, adapter), context);
}
