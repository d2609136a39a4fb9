// The kill -9 harness, shared by crash.test.ts (a few hundred cycles) and scripts/crash-soak.ts (thousands).
// Each cycle starts the child (_crash-child.ts, bundled once with esbuild so that a start costs tens of
// milliseconds rather than a TypeScript compile), lets it run concurrent transfers until it has
// acknowledged a random number of commits (at least one: the kill waits for that state, never for a time,
// so no cycle is wasted however slow the machine), kills it with SIGKILL, then opens the store here and
// records what it finds: which acknowledged transfers are present; whether balances equal the initial ones
// plus exactly the transfers present (so no transfer is half there); whether the money total is unchanged;
// whether the transfer-id sequence resumes above every id ever handed out. The trees' structural check
// throws. The caller asserts on these observations.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleChild } from './_bundle.js';
import type { EngineHooks, Store } from '../../../src/store/interfaces.js';
import { openStore } from '../../../src/store/store.js';

const ACCOUNTS = 32; // the same as _crash-child.ts
const INITIAL_BALANCE = 1_000_000n;

export interface CrashRunOptions {
  cycles: number;
  /** Each cycle kills the child once it has acknowledged a random number of commits, 1..this (default 64). */
  acksBeforeKillMax?: number;
  checkpointLogBytes?: number;
  /** Cycles run this many at a time, each lane on its own data directory (default 2). */
  lanes?: number;
  onCycle?: (cycle: number, summary: CycleSummary) => void;
}

export interface CycleSummary {
  /** Commits the child acknowledged before it died. */
  acknowledged: number;
  /** Of those, how many the reopened store holds. */
  acknowledgedFound: number;
  /** Transfers the reopened store holds in all (acknowledged or not). */
  present: number;
  /** Broken invariants seen after this cycle's kill (missing transfers, unbalanced books, a reissued id). */
  problems: string[];
}

export interface CrashRunResult {
  /** Cycles whose store was reopened and checked (counted as they finish, not the option echoed). */
  cyclesVerified: number;
  acknowledged: number;
  acknowledgedFound: number;
  /** Every problem seen, prefixed with its cycle. */
  problems: string[];
}

function accountKey(account: number): Uint8Array {
  return Buffer.from([0xac, account]);
}

async function seed(dir: string): Promise<void> {
  const store = await openStore({ dir });
  await store.transaction(async (tx) => {
    for (let a = 0; a < ACCOUNTS; a++) {
      const bytes = Buffer.alloc(8);
      bytes.writeBigInt64BE(INITIAL_BALANCE);
      await tx.put('accounts', accountKey(a), bytes);
    }
  });
  await store.close();
}

/** Runs the child until it has acknowledged `acksBeforeKill` commits, then kills it; returns the ids it acknowledged. */
function runChild(script: string, dir: string, acksBeforeKill: number, checkpointLogBytes: number): Promise<bigint[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir, String(checkpointLogBytes)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acknowledged: bigint[] = [];
    let buffered = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('ack ')) acknowledged.push(BigInt(line.slice(4)));
      }
      // The 16 workers keep committing while the signal travels, so the kill lands at an arbitrary point
      // of a commit, an fsync or a checkpoint; lines the child wrote before it died still count.
      if (!killed && acknowledged.length >= acksBeforeKill) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (killed && signal === 'SIGKILL') resolve(acknowledged);
      else reject(new Error(`child exited by itself (code ${String(code)}, signal ${String(signal)}) after ${acknowledged.length} acks: ${stderr}`));
    });
  });
}

/** Opens the store after a kill, checks its structure (throws if broken) and reports what it holds. */
async function verify(dir: string, acknowledged: bigint[], highestIdEver: bigint): Promise<{ present: number; acknowledgedFound: number; drawn: bigint; problems: string[] }> {
  const store = (await openStore({ dir })) as Store & EngineHooks;
  try {
    store.checkInvariants();
    return await store.transaction(async (tx) => {
      const problems: string[] = [];
      const expected = Array.from({ length: ACCOUNTS }, () => INITIAL_BALANCE);
      const present = new Set<bigint>();
      for await (const [key, value] of tx.range('transfers')) {
        const bytes = Buffer.from(value);
        const amount = bytes.readBigUInt64BE(2);
        expected[bytes[0]] -= amount;
        expected[bytes[1]] += amount;
        present.add(Buffer.from(key).readBigUInt64BE());
      }
      let acknowledgedFound = 0;
      for (const id of acknowledged) {
        if (present.has(id)) acknowledgedFound++;
        else problems.push(`acknowledged transfer ${String(id)} is missing`);
      }
      let total = 0n;
      for (let a = 0; a < ACCOUNTS; a++) {
        const balance = Buffer.from((await tx.get('accounts', accountKey(a)))!).readBigInt64BE();
        if (balance !== expected[a]) problems.push(`account ${a} holds ${String(balance)}, the transfers present say ${String(expected[a])}`);
        total += balance;
      }
      if (total !== INITIAL_BALANCE * BigInt(ACCOUNTS)) problems.push(`money total ${String(total)} changed`);
      const next = await store.sequence('transfer-ids').next();
      if (next <= highestIdEver) problems.push(`sequence reissued ${String(next)} (highest handed out ${String(highestIdEver)})`);
      return { present: present.size, acknowledgedFound, drawn: next, problems };
    });
  } finally {
    await store.close();
  }
}

export async function runCrashCycles(options: CrashRunOptions): Promise<CrashRunResult> {
  const workDir = await mkdtemp(join(tmpdir(), 'purser-crash-'));
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const bundle = await bundleChild('./_crash-child.ts');
    cleanups.push(() => bundle.remove());
    const script = bundle.file;
    // Independent lanes, each on its own directory: a cycle mostly waits (process start, fsync), so two
    // lanes on two cores take about half the time of one.
    const lanes = Math.max(1, Math.min(options.lanes ?? 2, options.cycles));
    let cycle = 0;
    const totals: CrashRunResult = { cyclesVerified: 0, acknowledged: 0, acknowledgedFound: 0, problems: [] };
    const lane = async (index: number) => {
      const dir = join(workDir, `data-${index}`);
      await seed(dir);
      let highestIdEver = 0n;
      while (cycle < options.cycles) {
        const number = cycle++;
        const acksBeforeKill = 1 + Math.floor(Math.random() * (options.acksBeforeKillMax ?? 64));
        const acknowledged = await runChild(script, dir, acksBeforeKill, options.checkpointLogBytes ?? 64 * 1024);
        for (const id of acknowledged) if (id > highestIdEver) highestIdEver = id;
        const checked = await verify(dir, acknowledged, highestIdEver);
        if (checked.drawn > highestIdEver) highestIdEver = checked.drawn; // verify() drew one id from the sequence itself
        totals.cyclesVerified++;
        totals.acknowledged += acknowledged.length;
        totals.acknowledgedFound += checked.acknowledgedFound;
        for (const problem of checked.problems) totals.problems.push(`cycle ${number}: ${problem}`);
        options.onCycle?.(number, { acknowledged: acknowledged.length, acknowledgedFound: checked.acknowledgedFound, present: checked.present, problems: checked.problems });
      }
    };
    await Promise.all(Array.from({ length: lanes }, (_, index) => lane(index)));
    return totals;
  } finally {
    for (const cleanup of cleanups) await cleanup();
    await rm(workDir, { recursive: true, force: true });
  }
}
