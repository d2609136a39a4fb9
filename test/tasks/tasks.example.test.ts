// examples/tasks.mjs (the copy in docs/tasks.md) runs as a user runs it: plain node, the compiled package.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('examples/tasks.mjs runs: the rolled-back task never runs, the dedup is reported, the credit applies once', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/tasks.mjs'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(stdout, "[ 'o-1 (attempt 1, key task-N)' ] [ 'o-1' ] true\n10n\n");
});
