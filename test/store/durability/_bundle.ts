// Bundles a test's child script with esbuild, so that starting one costs tens of milliseconds instead of
// a TypeScript compile. The bundle goes under node_modules/.cache (not /tmp) because the store loads its
// native lock package (fs-native-extensions) at run time, resolved from where the bundle lies.
import { mkdtemp, rm } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const CACHE_DIR = fileURLToPath(new URL('../../../node_modules/.cache/purser-tests/', import.meta.url));

export interface Bundle {
  file: string;
  remove: () => Promise<void>;
}

/** `entry` is relative to this folder (test/store/durability). */
export async function bundleChild(entry: string): Promise<Bundle> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const dir = await mkdtemp(CACHE_DIR);
  const file = join(dir, 'child.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['purser-source'],
    external: ['fs-native-extensions'],
    outfile: file,
    logLevel: 'silent',
  });
  return { file, remove: () => rm(dir, { recursive: true, force: true }) };
}
