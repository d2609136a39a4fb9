// Loaded with --import after tsx: installs _wire-hooks.mjs (see there).
import { register } from 'node:module';

register('./_wire-hooks.mjs', import.meta.url);
