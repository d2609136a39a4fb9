// The long kill -9 soak: the same harness as test/store/durability/crash.test.ts, for thousands of cycles.
// Run it with `node scripts/crash-soak.mjs [cycles=2000] [lanes=2]` (not a test file: the runner skips it).
import { runCrashCycles } from './_crash-harness.js';

const cycles = Number(process.argv[2] ?? 2000);
const lanes = Number(process.argv[3] ?? 2);
const startedAt = Date.now();
let withWork = 0;
const result = await runCrashCycles({
  cycles,
  lanes,
  runMsMax: 200,
  onCycle: (cycle, summary) => {
    if (summary.acknowledged > 0) withWork++;
    if ((cycle + 1) % 100 === 0) console.log(`${cycle + 1}/${cycles} cycles, ${summary.present} transfers in the last store checked, ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
  },
});
console.log(`ok: ${result.cycles} kill -9 cycles, ${result.acknowledged} acknowledged commits all present, ${withWork} cycles acknowledged work before the kill`);
