/**
 * "TigerBeetle as a file storage" (Aivars Kalvāns' post), on Purser: a file is an account (its name, at
 * most 16 bytes, is the id; its size is `user_data_64`, the name's length `user_data_32`) and its bytes are
 * transfers of 28 bytes each from the system file "." — 16 in `user_data_128`, 8 in `user_data_64`, 4 in
 * `user_data_32`, with `amount` = how many of the 28 are used. Reading a file back is `getAccountTransfers`
 * on its credits in timestamp order, paged by `timestamp_min`. `credits_posted` is the bytes written.
 *
 *   node --conditions=purser-source --import tsx examples/file-storage/tbcp.ts <dir> put <file> <name>
 *   node --conditions=purser-source --import tsx examples/file-storage/tbcp.ts <dir> get <name> <file>
 *   node --conditions=purser-source --import tsx examples/file-storage/tbcp.ts <dir> roundtrip <megabytes>
 *
 * `roundtrip` writes a random file of that size, copies it in and out, compares the sha256 and prints kB/s.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  AccountFilterFlags, CreateAccountStatus, CreateTransferStatus, id, openLedger, BATCH_EVENTS_MAX, type Account, type Client,
  type Transfer,
} from 'purser';

const FILE = 1; // the ledger and code of every file and of every block
const BLOCK_BYTES = 28;
const NAME_BYTES_MAX = 16;

function nameToId(name: string): bigint {
  const bytes = Buffer.from(name);
  if (bytes.length === 0 || bytes.length > NAME_BYTES_MAX) throw new Error(`file names are 1 to ${NAME_BYTES_MAX} bytes: ${name}`);
  return BigInt(`0x${bytes.toString('hex')}`);
}

function fileAccount(name: string, sizeBytes: number): Account {
  return {
    id: nameToId(name), debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n,
    user_data_64: BigInt(sizeBytes), user_data_32: Buffer.byteLength(name), reserved: 0, ledger: FILE, code: FILE, flags: 0, timestamp: 0n,
  };
}

async function createFile(client: Client, name: string, sizeBytes: number): Promise<bigint> {
  const [system, file] = await client.createAccounts([fileAccount('.', 0), fileAccount(name, sizeBytes)]);
  if (system.status !== CreateAccountStatus.created && system.status !== CreateAccountStatus.exists) throw new Error(`system file: ${CreateAccountStatus[system.status]}`);
  if (file.status !== CreateAccountStatus.created) throw new Error(`${name}: ${CreateAccountStatus[file.status]}`);
  return nameToId(name);
}

/** One transfer carrying up to 28 bytes, big-endian in the three user-data fields. */
function block(fileId: bigint, bytes: Buffer): Transfer {
  const padded = Buffer.alloc(BLOCK_BYTES);
  bytes.copy(padded);
  return {
    id: id(), debit_account_id: nameToId('.'), credit_account_id: fileId, amount: BigInt(bytes.length), pending_id: 0n,
    user_data_128: padded.readBigUInt64BE(0) * 2n ** 64n + padded.readBigUInt64BE(8), user_data_64: padded.readBigUInt64BE(16),
    user_data_32: padded.readUInt32BE(24), timeout: 0, ledger: FILE, code: FILE, flags: 0, timestamp: 0n,
  };
}

export async function put(client: Client, data: Buffer, name: string): Promise<void> {
  const fileId = await createFile(client, name, data.length);
  for (let offset = 0; offset < data.length;) {
    const batch: Transfer[] = [];
    for (; batch.length < BATCH_EVENTS_MAX && offset < data.length; offset += BLOCK_BYTES) {
      batch.push(block(fileId, data.subarray(offset, Math.min(offset + BLOCK_BYTES, data.length))));
    }
    const results = await client.createTransfers(batch);
    const failed = results.find((r) => r.status !== CreateTransferStatus.created);
    if (failed !== undefined) throw new Error(`write failed: ${CreateTransferStatus[failed.status]}`);
  }
}

export async function get(client: Client, name: string): Promise<Buffer> {
  const [file] = await client.lookupAccounts([nameToId(name)]);
  if (file === undefined) throw new Error(`no such file: ${name}`);
  const out = Buffer.alloc(Number(file.user_data_64));
  let written = 0;
  let timestampMin = 0n;
  for (;;) {
    const blocks = await client.getAccountTransfers({
      account_id: file.id, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, code: 0, timestamp_min: timestampMin,
      timestamp_max: 0n, limit: BATCH_EVENTS_MAX, flags: AccountFilterFlags.credits,
    });
    for (const t of blocks) {
      const padded = Buffer.alloc(BLOCK_BYTES);
      padded.writeBigUInt64BE(t.user_data_128 >> 64n, 0);
      padded.writeBigUInt64BE(t.user_data_128 & 0xffff_ffff_ffff_ffffn, 8);
      padded.writeBigUInt64BE(t.user_data_64, 16);
      padded.writeUInt32BE(t.user_data_32, 24);
      written += padded.copy(out, written, 0, Number(t.amount));
      timestampMin = t.timestamp + 1n;
    }
    if (blocks.length < BATCH_EVENTS_MAX) break;
  }
  if (BigInt(written) !== file.credits_posted || written !== out.length) throw new Error(`${name}: read ${written} of ${out.length} bytes`);
  return out;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function main(): Promise<void> {
  const [dir, command, a, b] = process.argv.slice(2);
  if (dir === undefined || command === undefined) throw new Error('usage: tbcp.ts <dir> put <file> <name> | get <name> <file> | roundtrip <megabytes>');
  const ledger = await openLedger({ dir });
  try {
    if (command === 'put') await put(ledger, readFileSync(a), b);
    else if (command === 'get') writeFileSync(b, await get(ledger, a));
    else if (command === 'roundtrip') {
      const sizeBytes = Math.round(Number(a) * 1024 * 1024);
      const scratch = mkdtempSync(join(tmpdir(), 'tbcp-'));
      const data = randomBytes(sizeBytes);
      writeFileSync(join(scratch, 'in.bin'), data);
      const name = `rt-${Date.now() % 1e9}`;
      let started = performance.now();
      await put(ledger, readFileSync(join(scratch, 'in.bin')), name);
      const upSeconds = (performance.now() - started) / 1000;
      started = performance.now();
      writeFileSync(join(scratch, 'out.bin'), await get(ledger, name));
      const downSeconds = (performance.now() - started) / 1000;
      const same = sha256(readFileSync(join(scratch, 'in.bin'))) === sha256(readFileSync(join(scratch, 'out.bin')));
      rmSync(scratch, { recursive: true, force: true });
      console.log(JSON.stringify({
        sizeBytes, transfers: Math.ceil(sizeBytes / BLOCK_BYTES), upSeconds: +upSeconds.toFixed(1), downSeconds: +downSeconds.toFixed(1),
        upKBps: Math.round(sizeBytes / 1000 / upSeconds), downKBps: Math.round(sizeBytes / 1000 / downSeconds), sha256Equal: same,
      }));
      if (!same) process.exitCode = 1;
    } else throw new Error(`unknown command ${command}`);
  } finally {
    await ledger.close();
  }
}

await main();
