// The error model: every deliberate error is a PurserError with a stable code, a name, and its cause;
// every code of the package is listed below once, and each belongs to one class.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, InvalidArgumentError, NodeError, PurserError, XatmiError } from 'purser';

test('PurserError subclasses carry a stable code, their own name and the cause', () => {
  const cause = new Error('underlying');
  const error = new ConfigError('bad port', { cause });
  // (That ConfigError is a PurserError is checked below, for every class, by walking the prototypes.)
  assert.equal(error.code, 'CONFIG_INVALID');
  assert.equal(error.name, 'ConfigError');
  assert.equal(error.cause, cause);
  // Without a cause, none is recorded (an own `cause: undefined` would show up in logs and util.inspect).
  assert.equal(Object.hasOwn(new ConfigError('bad port'), 'cause'), false);
  assert.equal(new InvalidArgumentError('x').code, 'INVALID_ARGUMENT');
  assert.equal(new NodeError('NODE_LISTEN_FAILED', 'x').code, 'NODE_LISTEN_FAILED');
});

test('a malformed error code is refused', () => {
  assert.throws(() => new PurserError('not a code', 'x'), TypeError);
});

/** Every error code of the package, each once, by the one class that carries it. Programs switch on these. */
const CODES_BY_CLASS: Record<string, readonly string[]> = {
  ConfigError: ['CONFIG_INVALID'],
  InvalidArgumentError: ['INVALID_ARGUMENT'],
  XatmiError: ['TPENOENT', 'TPETIME', 'TPEBLOCK', 'TPESVCFAIL', 'TPESVCERR', 'TPELIMIT', 'TPEBADDESC', 'TPEINVAL', 'TPEPROTO', 'TPEPERM'],
  ClientError: [
    'CLIENT_CONNECT_FAILED', 'CLIENT_VERSION_MISMATCH', 'CLIENT_CONNECTION_LOST', 'CLIENT_PROTOCOL', 'CLIENT_CLOSED',
    'CLIENT_TOO_MANY_REQUESTS', 'CLIENT_NO_LEDGER', 'CLIENT_LEDGER_FAILED', 'CLIENT_UNAUTHORIZED', 'CLIENT_FORBIDDEN',
  ],
  LedgerInvalidRequestError: ['LEDGER_INVALID_REQUEST'],
  LedgerBatchTooLargeError: ['LEDGER_BATCH_TOO_LARGE'],
  LedgerClosedError: ['LEDGER_CLOSED'],
  LedgerFailedError: ['LEDGER_FAILED'],
  LedgerInternalError: ['LEDGER_INTERNAL'],
  LedgerClockError: ['LEDGER_CLOCK'],
  StoreArgumentError: ['STORE_INVALID_ARGUMENT'],
  DeadlockError: ['STORE_DEADLOCK'],
  LockTimeoutError: ['STORE_LOCK_TIMEOUT'],
  TransactionTimeoutError: ['STORE_TRANSACTION_TIMEOUT'],
  EscrowBoundError: ['STORE_ESCROW_BOUND'],
  CounterFormatError: ['STORE_NOT_A_COUNTER'],
  TransactionTooLargeError: ['STORE_TRANSACTION_TOO_LARGE'],
  TransactionFinishedError: ['STORE_TRANSACTION_FINISHED'],
  TransactionAbortedError: ['STORE_TRANSACTION_ABORTED'],
  StoreClosedError: ['STORE_CLOSED'],
  StoreFailedError: ['STORE_FAILED'],
  StoreDamagedError: ['STORE_DAMAGED'],
  StoreLockedError: ['STORE_LOCKED'],
  DumpInvalidError: ['DUMP_INVALID'],
  StoreNotEmptyError: ['STORE_NOT_EMPTY'],
  StoreIoError: ['STORE_ACCESS_DENIED', 'STORE_READ_ONLY', 'STORE_DISK_FULL', 'STORE_NOT_A_DIRECTORY'],
  StoreForeignDirectoryError: ['STORE_NOT_A_DATA_DIRECTORY'],
  StoreCheckpointError: ['STORE_CHECKPOINT_FAILED'],
  NodeError: ['NODE_LISTEN_FAILED', 'NODE_DATA_DIR', 'NODE_CLOSED', 'NODE_GATEWAY_TLS_FAILED'],
  TigerBeetleError: ['TB_ADDRESS_INVALID', 'TB_LISTEN_FAILED', 'TB_OPTIONS_INVALID'],
  HttpError: ['HTTP_BAD_PATH', 'HTTP_UNAUTHORIZED', 'HTTP_FORBIDDEN'],
  AdminError: ['ADMIN_UNREACHABLE', 'ADMIN_BAD_RESPONSE', 'ADMIN_REFUSED'],
  CheckpointError: ['CHECKPOINT_UNREACHABLE', 'CHECKPOINT_FAILED'],
  TaskArgumentError: ['TASK_INVALID_ARGUMENT'],
  TaskUnknownError: ['TASK_UNKNOWN'],
  TaskPayloadError: ['TASK_PAYLOAD_NOT_SERIALIZABLE', 'TASK_PAYLOAD_TOO_LARGE'],
  TaskNotRunningError: ['TASK_NOT_RUNNING'],
  TaskNotFoundError: ['TASK_NOT_FOUND'],
  TasksClosedError: ['TASKS_CLOSED', 'TASKS_ALREADY_OPEN'],
};

/** The errors module of each part: the only places that define PurserError classes. */
const ERROR_MODULES = ['src/errors.ts', 'src/bus/errors.ts', 'src/client/errors.ts', 'src/ledger/errors.ts', 'src/store/errors.ts', 'src/node/errors.ts', 'src/cli/errors.ts', 'src/tasks/errors.ts'];

test('every error code is listed once, carried by exactly one class, and only errors modules define error classes', async () => {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const declared = new Map<string, readonly string[]>();
  for (const module of ERROR_MODULES) {
    const exports = (await import(join(root, module))) as Record<string, unknown>;
    for (const value of Object.values(exports)) {
      if (typeof value !== 'function' || !(value.prototype instanceof PurserError)) continue;
      const errorClass = value as typeof PurserError;
      assert.ok(Object.hasOwn(errorClass, 'codes') && errorClass.codes.length > 0, `${errorClass.name} lists its codes`);
      declared.set(errorClass.name, errorClass.codes);
    }
  }
  assert.deepEqual(Object.fromEntries(declared), CODES_BY_CLASS);
  const all = Object.values(CODES_BY_CLASS).flat();
  assert.equal(new Set(all).size, all.length, 'no code is carried by two classes');

  const definers = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    // A PurserError subclass, or a subclass of one of them (StoreFailedError).
    .filter((file) => /\bextends (PurserError|StoreClosedError)\b/.test(readFileSync(join(root, 'src', file), 'utf8')))
    .map((file) => join('src', file))
    .sort();
  assert.deepEqual(definers, [...ERROR_MODULES].sort());
});

test('a class refuses a code it does not carry', () => {
  assert.throws(() => new NodeError('CONFIG_INVALID' as 'NODE_CLOSED', 'x'), TypeError);
  assert.equal(new XatmiError('TPETIME', 'x').code, 'TPETIME');
});
