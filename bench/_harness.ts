/**
 * The benchmark harness. A benchmark measures Purser and a peer on the same workload in the same run,
 * several times each (interleaved, so that machine noise hits both alike), and reports medians and the
 * ratio. `report()` prints a table and writes `bench/results/<name>.json`.
 *
 * `higherIsBetter` decides the ratio's direction: the ratio is always "how many times better Purser is",
 * so a ratio above 1 means Purser wins whichever way the unit points.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export interface Measurement {
  /** What was measured, e.g. "start-up to first /health". */
  name: string;
  unit: string;
  higherIsBetter: boolean;
  purser: number[];
  /** Omitted when a figure has no peer (then there is no ratio). */
  peer?: number[];
  peerName?: string;
  /** A target the issue set, in "times the peer" (ratio) terms, e.g. 1.5 for "at least 1.5×". */
  targetRatio?: number;
  note?: string;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function ratioOf(m: Measurement): number | undefined {
  if (!m.peer || m.peer.length === 0) return undefined;
  const ours = median(m.purser);
  const theirs = median(m.peer);
  return m.higherIsBetter ? ours / theirs : theirs / ours;
}

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

export function report(benchmark: string, measurements: Measurement[]): void {
  const rows = measurements.map((m) => {
    const ratio = ratioOf(m);
    return {
      figure: m.name,
      unit: m.unit,
      purser: format(median(m.purser)),
      peer: m.peer ? `${format(median(m.peer))} (${m.peerName ?? 'peer'})` : '—',
      ratio: ratio === undefined ? '—' : `${ratio.toFixed(2)}×`,
      target: m.targetRatio === undefined ? '—' : `≥ ${m.targetRatio}× ${ratio !== undefined && ratio >= m.targetRatio ? 'met' : 'MISSED'}`,
      runs: String(m.purser.length),
    };
  });
  const columns = ['figure', 'unit', 'purser', 'peer', 'ratio', 'target', 'runs'] as const;
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ');
  console.log(`\n${benchmark} (medians; ratio > 1 means Purser is better)`);
  console.log(line([...columns]));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(columns.map((c) => row[c])));
  for (const m of measurements) if (m.note) console.log(`note: ${m.name}: ${m.note}`);

  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const json = {
    benchmark,
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version },
    measurements: measurements.map((m) => ({ ...m, purserMedian: median(m.purser), peerMedian: m.peer ? median(m.peer) : null, ratio: ratioOf(m) ?? null })),
  };
  writeFileSync(new URL(`./results/${benchmark}.json`, import.meta.url), `${JSON.stringify(json, null, 2)}\n`);
}

/** How many runs a benchmark does; `BENCH_RUNS` overrides it (CI smoke runs use 1). */
export function runs(defaultRuns: number): number {
  const fromEnv = Number(process.env.BENCH_RUNS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : defaultRuns;
}

/** One closed-loop run's result: calls per second and latency percentiles in microseconds. */
export interface CallRun { callsPerSecond: number; p50Us: number; p99Us: number }

/**
 * Runs `inFlight` loops of `call` for `windowMs` after a `warmupMs` warm-up, counting calls and recording each
 * call's latency: the closed-loop measurement the bus, bus-tcp and gateway benches share.
 */
export async function measureCalls(call: (n: number) => Promise<unknown>, inFlight: number, windowMs = 1000, warmupMs = 250): Promise<CallRun> {
  const phase = async (ms: number, latenciesUs: number[] | undefined) => {
    const endAt = performance.now() + ms;
    let calls = 0;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (performance.now() < endAt) {
        const startedAt = performance.now();
        await call(calls);
        calls += 1;
        latenciesUs?.push((performance.now() - startedAt) * 1000);
      }
    }));
    return calls;
  };
  await phase(warmupMs, undefined);
  const latenciesUs: number[] = [];
  const startedAt = performance.now();
  const calls = await phase(windowMs, latenciesUs);
  return { callsPerSecond: (calls / (performance.now() - startedAt)) * 1000, p50Us: percentile(latenciesUs, 50), p99Us: percentile(latenciesUs, 99) };
}
