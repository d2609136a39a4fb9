#!/usr/bin/env node
// Runs the test suite (or the files and folders given, as scripts/run-tests.mjs takes them) while CPU-burning
// processes keep every core busy: the proof that no test depends on a quiet machine. Usage:
//   node scripts/busy-test.mjs [--burners=N] [test files or folders...]
// N defaults to 2 (the cores of the CI machine). Exits with the test run's status; the burners always stop.
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const burnersArg = args.find((arg) => arg.startsWith('--burners='));
const burnerCount = burnersArg === undefined ? 2 : Number(burnersArg.slice('--burners='.length));
if (!Number.isInteger(burnerCount) || burnerCount < 0 || burnerCount > 64) {
  console.error(`--burners must be an integer 0..64, not ${burnersArg}`);
  process.exit(2);
}
const testArgs = args.filter((arg) => arg !== burnersArg);

// Each burner spins forever in its own process; it also dies if this script dies (its stdin closes).
const BURN = "process.stdin.on('close', () => process.exit(0)); process.stdin.resume(); setImmediate(function spin() { const until = Date.now() + 50; while (Date.now() < until); setImmediate(spin); });";
const burners = Array.from({ length: burnerCount }, () => spawn(process.execPath, ['-e', BURN], { stdio: ['pipe', 'ignore', 'inherit'] }));
const stopBurners = () => {
  for (const burner of burners) if (burner.exitCode === null && burner.signalCode === null) burner.kill('SIGKILL');
};
process.on('exit', stopBurners);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

console.log(`--- busy-test: ${burnerCount} CPU burners running; tests: ${testArgs.length > 0 ? testArgs.join(' ') : 'all'}`);
const startedAt = Date.now();
const run = spawn(process.execPath, [new URL('./run-tests.mjs', import.meta.url).pathname, ...testArgs], { stdio: 'inherit' });
run.on('close', (code, signal) => {
  console.log(`--- busy-test: tests finished in ${Math.round((Date.now() - startedAt) / 1000)} s under ${burnerCount} burners (exit ${String(code ?? signal)})`);
  process.exit(code ?? 1);
});
