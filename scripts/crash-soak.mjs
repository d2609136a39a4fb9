#!/usr/bin/env node
// Runs test/store/durability/_crash-soak.ts (thousands of kill -9 cycles against the store) through tsx, with the
// purser-source condition, like the tests. Exits non-zero on the first lost commit or broken invariant.
import { spawnSync } from 'node:child_process';

const result = spawnSync(process.execPath, ['--conditions=purser-source', '--import', 'tsx', 'test/store/durability/_crash-soak.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
