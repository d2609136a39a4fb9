// The long kill -9 soak: the same harness as test/store/durability/crash.test.ts, for thousands of cycles.
// Run it with `node scripts/crash-soak.mjs [cycles=2000] [lanes=2]` (not a test file: the runner skips it).
import { runCrashCycles } from './_crash-harness.js';

const cycles = Number(process.argv[2] ?? 2000);
const lanes = Number(process.argv[3] ?? 2);
const startedAt = Date.now();
const result = await runCrashCycles({
  cycles,
  lanes,
  acksBeforeKillMax: 200,
  onCycle: (cycle, summary) => {
    if ((cycle + 1) % 100 === 0) console.log(`${cycle + 1}/${cycles} cycles, ${summary.present} transfers in the last store checked, ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
  },
});
if (result.problems.length > 0 || result.cyclesVerified !== cycles || result.acknowledgedFound !== result.acknowledged) {
  console.error(`FAILED: ${result.cyclesVerified}/${cycles} cycles checked, ${result.acknowledgedFound}/${result.acknowledged} acknowledged commits found`);
  for (const problem of result.problems.slice(0, 50)) console.error(`  ${problem}`);
  process.exit(1);
}
console.log(`ok: ${result.cyclesVerified} kill -9 cycles, ${result.acknowledged} acknowledged commits all present`);
