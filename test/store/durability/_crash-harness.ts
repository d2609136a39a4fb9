// The kill -9 harness, shared by crash.test.ts (a few hundred cycles) and scripts/crash-soak.ts (thousands).
// Each cycle starts the child (_crash-child.ts, bundled once with esbuild so that a start costs tens of
// milliseconds rather than a TypeScript compile), lets it run concurrent transfers for a random time,
// kills it with SIGKILL, then opens the store here and checks: every transfer the child acknowledged is
// present; balances equal the initial ones plus exactly the transfers present (so no transfer is half
// there); the money total is unchanged; the trees pass their structural check; and the transfer-id
// sequence resumes above every id ever handed out.
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
  /** Longest time the child runs before it is killed, in milliseconds (each cycle picks 0..this). */
  runMsMax?: number;
  checkpointLogBytes?: number;
  /** Cycles run this many at a time, each lane on its own data directory (default 2). */
  lanes?: number;
  onCycle?: (cycle: number, summary: CycleSummary) => void;
}

export interface CycleSummary {
  acknowledged: number;
  present: number;
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

/** Runs the child until killed; returns the ids it acknowledged. */
function runChild(script: string, dir: string, runMs: number, checkpointLogBytes: number): Promise<bigint[]> {
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
        if (line === 'ready') {
          setTimeout(() => {
            killed = true;
            child.kill('SIGKILL');
          }, runMs);
        } else if (line.startsWith('ack ')) acknowledged.push(BigInt(line.slice(4)));
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (killed && signal === 'SIGKILL') resolve(acknowledged);
      else reject(new Error(`child exited by itself (code ${String(code)}, signal ${String(signal)}): ${stderr}`));
    });
  });
}

/** Opens the store after a kill and checks it; returns how many transfers are present. */
async function verify(dir: string, acknowledged: bigint[], highestIdEver: bigint): Promise<{ present: number; drawn: bigint }> {
  const store = (await openStore({ dir })) as Store & EngineHooks;
  try {
    store.checkInvariants();
    return await store.transaction(async (tx) => {
      const expected = Array.from({ length: ACCOUNTS }, () => INITIAL_BALANCE);
      const present = new Set<bigint>();
      for await (const [key, value] of tx.range('transfers')) {
        const bytes = Buffer.from(value);
        const amount = bytes.readBigUInt64BE(2);
        expected[bytes[0]] -= amount;
        expected[bytes[1]] += amount;
        present.add(Buffer.from(key).readBigUInt64BE());
      }
      for (const id of acknowledged) if (!present.has(id)) throw new Error(`acknowledged transfer ${String(id)} is missing`);
      let total = 0n;
      for (let a = 0; a < ACCOUNTS; a++) {
        const balance = Buffer.from((await tx.get('accounts', accountKey(a)))!).readBigInt64BE();
        if (balance !== expected[a]) throw new Error(`account ${a} holds ${String(balance)}, the transfers present say ${String(expected[a])}`);
        total += balance;
      }
      if (total !== INITIAL_BALANCE * BigInt(ACCOUNTS)) throw new Error(`money total ${String(total)} changed`);
      const next = await store.sequence('transfer-ids').next();
      if (next <= highestIdEver) throw new Error(`sequence reissued ${String(next)} (highest handed out ${String(highestIdEver)})`);
      return { present: present.size, drawn: next };
    });
  } finally {
    await store.close();
  }
}

export async function runCrashCycles(options: CrashRunOptions): Promise<{ cycles: number; acknowledged: number; present: number }> {
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
    const totals = { cycles: options.cycles, acknowledged: 0, present: 0 };
    const lane = async (index: number) => {
      const dir = join(workDir, `data-${index}`);
      await seed(dir);
      let highestIdEver = 0n;
      while (cycle < options.cycles) {
        const number = cycle++;
        const runMs = 5 + Math.floor(Math.random() * (options.runMsMax ?? 120));
        const acknowledged = await runChild(script, dir, runMs, options.checkpointLogBytes ?? 64 * 1024);
        for (const id of acknowledged) if (id > highestIdEver) highestIdEver = id;
        const checked = await verify(dir, acknowledged, highestIdEver);
        highestIdEver = checked.drawn; // verify() drew one id from the sequence itself
        totals.acknowledged += acknowledged.length;
        totals.present += checked.present;
        options.onCycle?.(number, { acknowledged: acknowledged.length, present: checked.present });
      }
    };
    await Promise.all(Array.from({ length: lanes }, (_, index) => lane(index)));
    return totals;
  } finally {
    for (const cleanup of cleanups) await cleanup();
    await rm(workDir, { recursive: true, force: true });
  }
}
