/**
 * The package root: the one public surface of Purser. Everything not exported here is internal and may
 * change without notice. Parts add their exports below as they land.
 */
export { PurserError, ConfigError, InvalidArgumentError } from './errors.js';
export { NodeError, TigerBeetleError } from './node/errors.js';
export { VERSION } from './version.js';
export { startNode } from './node/node.js';
export type { PurserNode, StartNodeOptions } from './node/node.js';
export { defaultConfig } from './node/config.js';
export type { NodeConfig, LogLevel } from './node/config.js';
export { loadConfigFile, findConfigFile } from './node/config-file.js';
export type { ConfigFile, ServiceDeclaration, ServiceDeclarations, AppDeclaration, AppDeclarations } from './node/config-file.js';
export type { AppContext, AppStart, RunningApp } from './node/config-services.js';
export { createBus } from './bus/bus.js';
export { XatmiError, ServiceFailure, ServiceReply } from './bus/errors.js';
export { TPNOBLOCK, TPNOREPLY, TPNOTRAN, TPNOTIME, TPGETANY } from './bus/interfaces.js';
export type {
  Bus, BusOptions, BusLogger, BusStats, AdvertiseOptions, CallOptions, GetReplyOptions, Reply, ServiceRequest, ServiceHandler,
  Forward, QueueView, ServerView, ServiceView, XatmiErrorCode,
} from './bus/interfaces.js';
export { connect } from './client/client.js';
export type { BusClient, ConnectOptions, ClientStats } from './client/client.js';
export { ClientError } from './client/errors.js';
export type { ClientErrorCode } from './client/errors.js';
export { openStore } from './store/store.js';
export {
  StoreArgumentError, DeadlockError, LockTimeoutError, EscrowBoundError, CounterFormatError, TransactionTooLargeError,
  TransactionFinishedError, TransactionAbortedError, TransactionTimeoutError, StoreClosedError,
} from './store/errors.js';
export { encodeCounter, decodeCounter } from './store/counter.js';
export { checkpointStore, storeDurability } from './store/durability/attach.js';
export type { StorePersistenceOptions } from './store/durability/attach.js';
export type { CheckpointResult, DurabilityStats } from './store/durability/persistence.js';
export { dumpStore, loadStore } from './store/durability/dump.js';
export { StoreDamagedError, StoreLockedError, StoreFailedError, DumpInvalidError, StoreNotEmptyError, StoreIoError, StoreForeignDirectoryError, StoreCheckpointError } from './store/errors.js';
export type { StoreIoErrorCode } from './store/errors.js';
export type {
  Store, Transaction, OpenStoreOptions, TransactionOptions, ReadOptions, RangeOptions, IncrementOptions, Sequence, SequenceOptions, StoreStats,
} from './store/interfaces.js';
export { openLedger } from './ledger/open.js';
export type { OpenLedgerOptions } from './ledger/open.js';
export type { Ledger, LedgerSession, LedgerLogger, LedgerStats } from './ledger/ledger.js';
export { id } from './ledger/id.js';
export { LedgerInvalidRequestError, LedgerBatchTooLargeError, LedgerClosedError, LedgerFailedError, LedgerInternalError, LedgerClockError } from './ledger/errors.js';
export {
  AccountFlags, TransferFlags, AccountFilterFlags, QueryFilterFlags, CreateAccountStatus, CreateTransferStatus, amount_max,
  BATCH_EVENTS_MAX,
} from './ledger/types.js';
export type {
  Account, Transfer, AccountBalance, AccountFilter, QueryFilter, CreateAccountResult, CreateTransferResult, Client, AccountID,
  TransferID,
} from './ledger/types.js';
export type { NodeErrorCode, TigerBeetleErrorCode } from './node/errors.js';
export { openTasks } from './tasks/tasks.js';
export { remoteTasks } from './tasks/remote-worker.js';
export type { RemoteTasks, RemoteTasksOptions, RemoteWorkerOptions, TasksBusClient } from './tasks/remote-worker.js';
export type {
  Tasks, OpenTasksOptions, EnqueueOptions, EnqueueResult, RegisterOptions, Job, TaskHandler, StopOptions, QueueCounts, TaskView, TasksStats,
  TasksLogger, TasksObserver, RunOutcome,
} from './tasks/interfaces.js';
export { TaskArgumentError, TaskUnknownError, TaskPayloadError, TaskNotRunningError, TaskNotFoundError, TasksClosedError } from './tasks/errors.js';
