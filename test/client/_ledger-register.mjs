// Loaded with --import after tsx: installs _ledger-hooks.mjs (see there).
import { register } from 'node:module';

register('./_ledger-hooks.mjs', import.meta.url);
