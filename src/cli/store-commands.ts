/**
 * `purser dump`, `purser load` and `purser checkpoint`: the store's offline tools.
 *
 * dump and load work on a data directory that no node has open (the directory lock refuses otherwise).
 * checkpoint works either way: with `--url` it asks a running node over its HTTP listener
 * (POST /v1/admin/checkpoint); without, it opens the directory, checkpoints and closes it.
 * A progress bar is drawn on stderr when stderr is a terminal.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { ConfigError } from '../errors.js';
import { CheckpointError } from './errors.js';
import { authorization } from './admin.js';
import { checkpointStore } from '../store/durability/attach.js';
import { dumpStore, loadStore, type ProgressListener } from '../store/durability/dump.js';
import { openStore } from '../store/store.js';
import type { DurabilityEvent } from '../store/durability/persistence.js';

const DEFAULT_DIR = './purser-data';
export const DEFAULT_DUMP_FILE = './purser.dump';

function parse(args: string[], options: Record<string, { type: 'string' }>, command: string): Record<string, string | undefined> {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new ConfigError(`'purser ${command}' takes no arguments, got ${positionals[0]}`);
    return values;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`purser ${command}: ${(error as Error).message}`);
  }
}

function progressBar(label: string): { listener: ProgressListener | undefined; stop: () => void } {
  if (!process.stderr.isTTY) return { listener: undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: `${label} [{bar}] {percentage}% | {value}/{total} records`, hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    listener: (done, total) => {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(Math.min(done, total));
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/**
 * What opening a data directory reports: warnings as one `purser: warning:` line each; recovery progress
 * as a bar on a terminal, else as a line per report (every 2 s), so a long open is visibly not hung.
 */
function openingReporter(): { onEvent: (event: DurabilityEvent) => void; stop: () => void } {
  let bar: cliProgress.SingleBar | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  const onEvent = (event: DurabilityEvent) => {
    if (event.kind === 'checkpoint-failed' || event.kind === 'log-batch') return; // a failed checkpoint fails the command, one line
    if (event.kind !== 'recovery-progress') {
      stop();
      process.stderr.write(`purser: warning: ${event.kind === 'torn-tail-cut' ? event.message : event.error.message}\n`);
      return;
    }
    const total = event.totalRecords ?? event.records;
    if (!process.stderr.isTTY) {
      process.stderr.write(`purser: recovering: ${event.records}${event.totalRecords === undefined ? '' : ` of ${event.totalRecords}`} records from the ${event.step}\n`);
      return;
    }
    if (!bar) {
      bar = new cliProgress.SingleBar({ stream: process.stderr, format: `recovering (${event.step}) [{bar}] {value}/{total} records`, hideCursor: true }, cliProgress.Presets.shades_classic);
      bar.start(total, 0);
    }
    bar.setTotal(total);
    bar.update(event.records);
    if (event.records === event.totalRecords) stop();
  };
  return { onEvent, stop };
}

export const dumpHelp = () => `Options:\n  --dir <path>   data directory (default: PURSER_DIR or ${DEFAULT_DIR}); no node may have it open\n  --out <file>   dump file to write (default ${DEFAULT_DUMP_FILE}); written whole or not at all`;

export async function runDump(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const values = parse(args, { dir: { type: 'string' }, out: { type: 'string' } }, 'dump');
  const dir = values.dir ?? env.PURSER_DIR ?? DEFAULT_DIR;
  const file = values.out ?? DEFAULT_DUMP_FILE;
  const progress = progressBar('dump');
  const opening = openingReporter();
  let result;
  try {
    result = await dumpStore({ dir, file, onProgress: (done, total) => (opening.stop(), progress.listener?.(done, total)), onEvent: opening.onEvent });
  } finally {
    opening.stop();
    progress.stop();
  }
  process.stdout.write(`dumped ${result.records} records (${result.sizeBytes} bytes) from ${dir} to ${file}\n`);
  return 0;
}

export const loadHelp = () => `Options:\n  --dir <path>   data directory to load into (default: PURSER_DIR or ${DEFAULT_DIR}); must hold no data\n  --in <file>    dump file to read (default ${DEFAULT_DUMP_FILE}); checked whole before anything is written`;

export async function runLoad(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const values = parse(args, { dir: { type: 'string' }, in: { type: 'string' } }, 'load');
  const dir = values.dir ?? env.PURSER_DIR ?? DEFAULT_DIR;
  const file = values.in ?? DEFAULT_DUMP_FILE;
  const progress = progressBar('load');
  const opening = openingReporter();
  let result;
  try {
    result = await loadStore({ dir, file, onProgress: (done, total) => (opening.stop(), progress.listener?.(done, total)), onEvent: opening.onEvent });
  } finally {
    opening.stop();
    progress.stop();
  }
  process.stdout.write(`loaded ${result.records} records from ${file} into ${dir}\n`);
  return 0;
}

export const checkpointHelp = () =>
  `Options:\n  --url <url>    a running node's HTTP address (e.g. http://127.0.0.1:7780): it checkpoints while serving\n  --dir <path>   without --url: open this data directory (default: PURSER_DIR or ${DEFAULT_DIR}), checkpoint, close`;

export async function runCheckpoint(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const values = parse(args, { dir: { type: 'string' }, url: { type: 'string' } }, 'checkpoint');
  if (values.url !== undefined && values.dir !== undefined) throw new ConfigError('purser checkpoint: give --url or --dir, not both');
  if (values.url !== undefined) {
    let response: Response;
    try {
      response = await fetch(new URL('/v1/admin/checkpoint', values.url), { method: 'POST', headers: authorization() });
    } catch (error) {
      throw new CheckpointError('CHECKPOINT_UNREACHABLE', `cannot reach a node at ${values.url}: ${(error as Error).message}`);
    }
    const body = await response.text();
    if (!response.ok) throw new CheckpointError('CHECKPOINT_FAILED', `the node answered ${response.status}: ${body}`);
    process.stdout.write(`${body.trim()}\n`);
    return 0;
  }
  const dir = values.dir ?? env.PURSER_DIR ?? DEFAULT_DIR;
  if (!existsSync(dir)) throw new ConfigError(`purser checkpoint: there is no data directory at ${dir}`);
  const opening = openingReporter();
  let store;
  try {
    store = await openStore({ dir, checkpointLogBytes: 0, onEvent: opening.onEvent });
  } finally {
    opening.stop();
  }
  try {
    const result = await checkpointStore(store);
    if (result.unchanged) process.stdout.write(`checkpoint of ${dir}: nothing committed since the last snapshot (covers LSN ${result.coveredLsn}); nothing written\n`);
    else process.stdout.write(`checkpoint of ${dir}: ${result.records} records, ${result.sizeBytes} bytes, covers LSN ${result.coveredLsn}\n`);
  } finally {
    await store.close();
  }
  return 0;
}
