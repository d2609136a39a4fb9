// Loaded with --import after tsx: installs hooks.mjs with the adapter named by PURSER_LEDGER_ADAPTER.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';

const adapter = process.env.PURSER_LEDGER_ADAPTER;
if (!adapter) throw new Error('PURSER_LEDGER_ADAPTER must name the adapter module (a path)');
register('./hooks.mjs', import.meta.url, { data: { adapter: pathToFileURL(adapter).href } });
