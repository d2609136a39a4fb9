#!/usr/bin/env node
// Runs every bench/*.ts (or the ones named as arguments, e.g. `npm run bench -- store`) one after another,
// each in its own process so that one benchmark's heap and threads do not disturb the next.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const wanted = process.argv.slice(2);
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
