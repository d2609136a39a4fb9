/**
 * Dump and load: a store to and from one portable file (the image format of image.ts with the "PURSDUMP"
 * magic and position 0, so dump → load → dump is byte-identical).
 *
 * A dump is written to `<out>.tmp`, fsynced and renamed, so a dump that exists is whole. A load reads the
 * whole file once to check it (structure, key order, record count, checksum) before it writes anything,
 * then opens the target store, refuses if it holds data, bulk-loads the file and checkpoints, so the
 * loaded store is one snapshot and an empty log.
 */
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError, requireArgument } from '../../errors.js';
import type { EngineHooks, Store } from '../interfaces.js';
import { openStore } from '../store.js';
import { checkpointStoreAfterLoad } from './attach.js';
import { asStoreIoError } from './io-errors.js';
import { DumpInvalidError, ImageDamage, StoreIoError, StoreNotEmptyError } from '../errors.js';
import { realFileSystem, type FileSystem } from './fs.js';
import type { DurabilityEvent } from './persistence.js';
import { readImage, readImageInfo, writeImage, type ImageInfo, type ImageSink } from './image.js';

/** Reports progress: records done so far and the total (known up front for both directions). */
export type ProgressListener = (doneRecords: number, totalRecords: number) => void;

export interface DumpOptions {
  dir: string;
  file: string;
  fs?: FileSystem;
  onProgress?: ProgressListener;
  /** Warnings and recovery progress of opening the data directory (see `openStore`'s `onEvent`). */
  onEvent?: (event: DurabilityEvent) => void;
}

function checkDumpOptions(options: DumpOptions): void {
  requireArgument(typeof options === 'object' && options !== null, 'options must be an object { dir, file }');
  requireArgument(typeof options.dir === 'string' && options.dir.length > 0, 'dir must be a non-empty string');
  requireArgument(typeof options.file === 'string' && options.file.length > 0, 'file must be a non-empty string');
  requireArgument(options.onProgress === undefined || typeof options.onProgress === 'function', 'onProgress must be a function');
  requireArgument(options.onEvent === undefined || typeof options.onEvent === 'function', 'onEvent must be a function');
}

export async function dumpStore(options: DumpOptions): Promise<{ records: number; sizeBytes: number }> {
  checkDumpOptions(options);
  const fs = options.fs ?? realFileSystem;
  // Opening a store creates its directory; a dump of a mistyped path must not quietly dump nothing.
  if (!(await fs.exists(options.dir))) throw new InvalidArgumentError(`there is no data directory at ${options.dir}`);
  const store = await openStore({ dir: options.dir, fs, checkpointLogBytes: 0, onEvent: options.onEvent });
  try {
    const engine = store as Store & EngineHooks;
    const total = store.stats().records;
    const image = engine.snapshot();
    const file = resolve(options.file);
    const temporary = `${file}.tmp`;
    try {
      if (await fs.exists(temporary)) await fs.unlink(temporary);
      const written = await writeImage(fs, temporary, 'dump', 0, image, (done) => options.onProgress?.(done, total));
      await fs.rename(temporary, file);
      await fs.syncDirectory(dirname(file));
      return written;
    } catch (error) {
      await fs.unlink(temporary).catch(() => undefined);
      throw asStoreIoError(error, `write the dump ${file}`);
    } finally {
      image.release();
    }
  } finally {
    await store.close();
  }
}

async function withDumpFile<T>(fs: FileSystem, path: string, use: (file: Awaited<ReturnType<FileSystem['open']>>, info: ImageInfo) => T): Promise<T> {
  let file;
  try {
    file = await fs.open(path, 'read');
  } catch (error) {
    const typed = asStoreIoError(error, `read the dump ${path}`);
    if (typed instanceof StoreIoError) throw typed;
    throw new DumpInvalidError(path, `cannot open it (${(error as Error).message})`);
  }
  try {
    const info = await readImageInfo(file, 'dump');
    return use(file, info);
  } catch (error) {
    if (error instanceof ImageDamage) throw new DumpInvalidError(path, `${error.message} (at byte ${error.offsetBytes})`);
    throw error;
  } finally {
    await file.close();
  }
}

const CHECK_ONLY: ImageSink = {
  sequence: () => undefined,
  table: (_name, records) => {
    for (const _record of records) {
      // Reading each record checks its length, order and (at the end) the checksum.
    }
  },
};

export async function loadStore(options: DumpOptions): Promise<{ records: number }> {
  checkDumpOptions(options);
  const fs = options.fs ?? realFileSystem;
  const path = resolve(options.file);
  // First pass: the whole file is checked before anything is written.
  await withDumpFile(fs, path, (file, info) => readImage(file, info, 'dump', CHECK_ONLY));
  const store = await openStore({ dir: options.dir, fs, checkpointLogBytes: 0, onEvent: options.onEvent });
  try {
    const engine = store as Store & EngineHooks;
    if (store.stats().records > 0 || engine.sequenceStates().length > 0) throw new StoreNotEmptyError(options.dir);
    const records = await withDumpFile(fs, path, (file, info) => {
      readImage(file, info, 'dump', { sequence: (state) => engine.setSequenceState(state), table: (name, rows) => engine.bulkLoad(name, rows) }, (done) => options.onProgress?.(done, info.records));
      return info.records;
    });
    await checkpointStoreAfterLoad(store);
    return { records };
  } finally {
    await store.close();
  }
}
