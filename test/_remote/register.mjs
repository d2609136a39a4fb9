// Loaded with --import after tsx: installs hooks.mjs with the adapter named by PURSER_LEDGER_ADAPTER.
import * as nodeModule from 'node:module';
import { pathToFileURL } from 'node:url';
import { redirect } from './hooks.mjs';

const adapter = process.env.PURSER_LEDGER_ADAPTER;
if (!adapter) throw new Error('PURSER_LEDGER_ADAPTER must name the adapter module (a path)');
const adapterUrl = pathToFileURL(adapter).href;
if (typeof nodeModule.registerHooks === 'function') {
  // Registered after tsx's own hooks, so it runs first and hands tsx the adapter's path to resolve.
  nodeModule.registerHooks({ resolve: (specifier, context, nextResolve) => nextResolve(redirect(specifier, context, adapterUrl), context) });
} else {
  nodeModule.register('./hooks.mjs', import.meta.url, { data: { adapter: adapterUrl } });
}
