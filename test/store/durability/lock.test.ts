// The data-directory lock is the kernel's (an open-file-description lock on LOCK), not a pid judged alive:
// of 50 processes opening one directory at the same moment over a LOCK naming a live pid, exactly one
// opens and 49 get STORE_LOCKED; two openers in separate PID namespaces (both pid 1, as two containers on
// one volume) exclude each other; a holder killed with SIGKILL lets the next opener in; a LOCK naming a
// live pid (1) stops nobody; and a second open within one process is refused too.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openStore } from '../../../src/store/store.js';
import { StoreLockedError } from '../../../src/store/errors.js';
import { bundleChild, type Bundle } from './_bundle.js';

let work: string;
let child: Bundle;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'purser-lock-'));
  child = await bundleChild('./_lock-child.ts');
});
after(async () => {
  await child.remove();
  await rm(work, { recursive: true, force: true });
});

/** A running _lock-child: its lines as they come, and a way to wait for one. */
class Opener {
  readonly process: ChildProcessWithoutNullStreams;
  private lines: string[] = [];
  private waiters: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  constructor(dir: string, prefix: string[] = []) {
    const command = [...prefix, process.execPath, child.file, dir];
    this.process = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let buffered = '';
    this.process.stdout.setEncoding('utf8');
    this.process.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      this.lines.push(...parts);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.process.stderr.resume();
    // 'close', not 'exit': 'exit' can come before the last stdout chunk is read (seen under load: a child's
    // "refused …" line lost), 'close' comes after every stream has ended.
    this.exited = new Promise((resolve) => this.process.on('close', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** The first line starting with one of `prefixes`; fails if the child exits without printing one. */
  async line(...prefixes: string[]): Promise<string> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const found = this.lines.find((line) => prefixes.some((prefix) => line.startsWith(prefix)));
      if (found !== undefined) return found;
      if (exited) throw new Error(`the child exited without printing ${prefixes.join('/')}; printed: ${this.lines.join(' | ')}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  go(): void {
    this.process.stdin.write('go\n');
  }

  async letGo(): Promise<void> {
    this.process.stdin.end();
    await this.exited;
  }
}

test('50 processes open one directory at once, over a LOCK naming a live pid: exactly one opens, 49 get STORE_LOCKED', async () => {
  const dir = join(work, 'race');
  await openStore({ dir }).then((store) => store.close());
  await writeFile(join(dir, 'LOCK'), '1\n'); // a "stale" lock naming a live pid (init)
  const openers = Array.from({ length: 50 }, () => new Opener(dir));
  try {
    await Promise.all(openers.map((opener) => opener.line('ready')));
    for (const opener of openers) opener.go();
    const outcomes = await Promise.all(openers.map((opener) => opener.line('opened', 'refused')));
    const opened = outcomes.filter((line) => line.startsWith('opened'));
    const refused = outcomes.filter((line) => line.startsWith('refused'));
    assert.equal(opened.length, 1, `exactly one opener opens: ${opened.join(' | ')}`);
    assert.equal(refused.length, 49);
    for (const line of refused) assert.match(line, /^refused STORE_LOCKED data directory .* is in use by /);
    const winner = openers[outcomes.findIndex((line) => line.startsWith('opened'))];
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(winner.process.pid), 'LOCK names the holder');
  } finally {
    await Promise.all(openers.map((opener) => opener.letGo()));
  }
  const store = await openStore({ dir });
  await store.close();
});

test('a holder killed with SIGKILL leaves no lock behind: the next opener opens', async () => {
  const dir = join(work, 'killed');
  const holder = new Opener(dir);
  await holder.line('ready');
  holder.go();
  await holder.line('opened');
  const second = new Opener(dir);
  await second.line('ready');
  second.go();
  assert.match(await second.line('opened', 'refused'), new RegExp(`^refused STORE_LOCKED .*process ${holder.process.pid}\\b`));
  holder.process.kill('SIGKILL');
  await holder.exited;
  const store = await openStore({ dir });
  await store.close();
});

const unshareWorks = spawnSync('unshare', ['--pid', '--fork', 'true']).status === 0;

test('two openers in separate PID namespaces (both pid 1): the second gets STORE_LOCKED', { skip: unshareWorks ? false : 'unshare --pid --fork is unavailable here (it needs root or user namespaces)' }, async () => {
  const dir = join(work, 'namespaces');
  const first = new Opener(dir, ['unshare', '--pid', '--fork']);
  const second = new Opener(dir, ['unshare', '--pid', '--fork']);
  try {
    assert.equal(await first.line('ready'), 'ready 1', 'the first opener is pid 1 in its namespace');
    assert.equal(await second.line('ready'), 'ready 1', 'so is the second');
    first.go();
    assert.equal(await first.line('opened', 'refused'), 'opened 1');
    second.go();
    assert.match(await second.line('opened', 'refused'), /^refused STORE_LOCKED .*in use by process 1 /);
  } finally {
    await first.letGo();
    await second.letGo();
  }
});

test('a LOCK naming a live pid does not keep a store from opening; a second open in the same process is refused', async () => {
  const dir = join(work, 'stale');
  await openStore({ dir }).then((store) => store.close());
  await writeFile(join(dir, 'LOCK'), '1\n');
  const store = await openStore({ dir });
  try {
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
    await assert.rejects(openStore({ dir }), (error: unknown) => error instanceof StoreLockedError && error.message.includes(`process ${process.pid}`));
  } finally {
    await store.close();
  }
  const again = await openStore({ dir });
  await again.close();
});

test('data files are 0600 and the data directory 0700', async () => {
  const dir = join(work, 'modes', 'data');
  const store = await openStore({ dir });
  await store.transaction(async (tx) => tx.put('t', Buffer.from('k'), Buffer.from('v')));
  await store.close();
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  const { readdir } = await import('node:fs/promises');
  const names = await readdir(dir);
  assert.ok(names.some((name) => name.endsWith('.wal')));
  for (const name of names) assert.equal((await stat(join(dir, name))).mode & 0o777, 0o600, name);
});
