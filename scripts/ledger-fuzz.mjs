#!/usr/bin/env node
// Differential fuzzing of the ledger against a reference model (test/ledger/_fuzz/). Usage:
//   node scripts/ledger-fuzz.mjs [--seed N] [--seeds K] [--events N] [--wire] [--restart-every N]
// Runs seeds N … N+K−1 (N random if not given), each for --events create events (default 1,000,000),
// against the embedded ledger, or with --wire through the official tigerbeetle-node client and the
// TigerBeetle listener. On a mismatch it prints the seed and the request and exits 1.
import { spawnSync } from 'node:child_process';

const result = spawnSync(process.execPath, ['--conditions=purser-source', '--import', 'tsx', 'test/ledger/_fuzz/main.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
