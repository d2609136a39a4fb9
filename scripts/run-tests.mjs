#!/usr/bin/env node
// Runs every test/**/*.test.ts (or the files and folders given as arguments) with node's test runner
// through tsx. Node 20's runner does not expand globs itself, hence this script.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) collect(join(path, entry), out);
  } else if (path.endsWith('.test.ts')) out.push(path);
  return out;
}

const roots = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const flags = process.argv.slice(2).filter((arg) => arg.startsWith('-'));
const files = (roots.length > 0 ? roots : ['test']).flatMap((root) => collect(root, []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Tests wait for states, not times, so a wait that never ends is a hang: a per-test timeout turns it into a failure
// that names the test. It is a hang guard, not a deadline: the longest test takes about a minute on an idle machine
// and almost five with both cores saturated and more work queued (load average 20). A --test-timeout given on the command line comes later and wins.
const HANG_GUARD_MS = 20 * 60 * 1000;
const result = spawnSync(process.execPath, ['--conditions=purser-source', '--import', 'tsx', '--test', '--test-reporter=spec', `--test-timeout=${HANG_GUARD_MS}`, ...flags, ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
