#!/usr/bin/env node
// Runs every bench/*.ts (or the ones named as arguments, e.g. `npm run bench -- store`) one after another,
// each in its own process so that one benchmark's heap and threads do not disturb the next.
//
// The peers a benchmark runs against (better-sqlite3, lmdb, pg, moleculer, …) are the bench/ package's
// dependencies, not Purser's: installed here on first use (and again when bench/package-lock.json changes),
// so `npm install` at the root needs only what the product and its tests need.
// `npm run check:bench` (`--check`) installs them (without building native addons) and type-checks and lints bench/
// (CI runs it).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const check = args.includes('--check');
const wanted = args.filter((arg) => arg !== '--check');

function run(command, commandArgs, options = {}) {
  const result = spawnSync(command, commandArgs, { stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(`purser bench: ${command} ${commandArgs.join(' ')} failed`);
    process.exit(result.status ?? 1);
  }
}

// A check only type-checks and lints, so it installs the peers without their install scripts (no native addon is
// compiled: that took two of CI's minutes) and leaves a marker saying so; a benchmark run then installs them fully.
const TYPES_ONLY_MARKER = 'bench/node_modules/.purser-types-only';

function installPeers({ typesOnly }) {
  const marker = 'bench/node_modules/.package-lock.json';
  const lock = 'bench/package-lock.json';
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
  if (!stale && (typesOnly || !existsSync(TYPES_ONLY_MARKER))) return;
  console.log(typesOnly
    ? '--- installing the benchmark peers into bench/node_modules for type checking (no native addons built)'
    : '--- installing the benchmark peers into bench/node_modules (first use; compiles native addons)');
  const extra = typesOnly ? ['--ignore-scripts'] : [];
  run('npm', [existsSync(lock) ? 'ci' : 'install', '--prefix', 'bench', '--no-audit', '--no-fund', ...extra], { shell: process.platform === 'win32' });
  if (typesOnly) writeFileSync(TYPES_ONLY_MARKER, 'installed with --ignore-scripts by npm run check:bench\n');
  else rmSync(TYPES_ONLY_MARKER, { force: true });
}

installPeers({ typesOnly: check });
if (check) {
  run('npx', ['tsc', '-p', 'bench/tsconfig.json', '--noEmit']);
  run('npx', ['eslint', 'bench'], { env: { ...process.env, PURSER_LINT_BENCH: '1' } });
  process.exit(0);
}

const files = readdirSync('bench')
  .filter((name) => name.endsWith('.ts') && !name.startsWith('_'))
  .filter((name) => wanted.length === 0 || wanted.some((w) => name === w || name === `${w}.ts`))
  .sort();
let failed = 0;
for (const file of files) {
  console.log(`\n=== bench/${file}`);
  const result = spawnSync(process.execPath, ['--conditions=purser-source', '--import', 'tsx', '--expose-gc', `bench/${file}`], { stdio: 'inherit' });
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
