/**
 * A throw-away PostgreSQL 15 cluster for benchmarks: initdb in a temporary directory, started on loopback
 * with fsync and synchronous commit on, stopped and deleted by `stop()`. The server refuses to run as root,
 * so when this process is root, initdb and pg_ctl run as the `postgres` user (runuser).
 *
 * `startPostgres` returns a reason instead of a server when it cannot start one (no binaries, no user, initdb
 * or start failed), so a benchmark can skip its PostgreSQL rows with a clear message rather than fail.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PG_BIN = process.env.BENCH_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface Postgres {
  port: number;
  stop(): void;
}

function run(args: string[], asPostgresUser: boolean): void {
  const [command, rest] = asPostgresUser ? ['runuser', ['-u', 'postgres', '--', ...args]] : [args[0], args.slice(1)];
  const result = spawnSync(command, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) throw new Error(`${args[0]} failed (${String(result.status)}): ${result.stderr?.toString().trim() ?? result.error?.message ?? ''}`);
}

/** Starts a cluster with `settings` (`-c name=value` pairs) on a random loopback port, or says why it could not. */
export function startPostgres(settings: Record<string, string>): Postgres | { skipped: string } {
  if (!existsSync(join(PG_BIN, 'initdb'))) return { skipped: `no PostgreSQL binaries in ${PG_BIN} (set BENCH_PG_BIN)` };
  const asPostgresUser = process.getuid?.() === 0;
  const dataDir = mkdtempSync(join(tmpdir(), 'purser-bench-pg-'));
  const port = 15432 + Math.floor(Math.random() * 1000);
  try {
    if (asPostgresUser) {
      chmodSync(dataDir, 0o700);
      execFileSync('chown', ['postgres', dataDir]);
    }
    run([join(PG_BIN, 'initdb'), '-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync'], asPostgresUser);
    const options = [`-p ${String(port)}`, `-k ${dataDir}`, '-c listen_addresses=127.0.0.1', '-c fsync=on', '-c synchronous_commit=on'];
    for (const [name, value] of Object.entries(settings)) options.push(`-c ${name}=${value}`);
    run([join(PG_BIN, 'pg_ctl'), '-D', dataDir, '-w', '-l', join(dataDir, 'log'), '-o', options.join(' '), 'start'], asPostgresUser);
  } catch (error) {
    const log = existsSync(join(dataDir, 'log')) ? readFileSync(join(dataDir, 'log'), 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
    rmSync(dataDir, { recursive: true, force: true });
    return { skipped: `${(error as Error).message}${log ? ` (log: ${log})` : ''}` };
  }
  return {
    port,
    stop() {
      try {
        run([join(PG_BIN, 'pg_ctl'), '-D', dataDir, '-m', 'fast', 'stop'], asPostgresUser);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
