/**
 * The task outbox as a node part: opened on the node's store (`node.tasks`), its Prometheus metrics, and
 * its operator routes, which `purser tasks` calls:
 *
 *   GET  /v1/tasks                                  → 200 [{queue, ready, scheduled, running, dead}]
 *   GET  /v1/tasks/list?state=dead&queue=q&limit=n  → 200 [task]   (state: dead (default), ready, scheduled, running)
 *   GET  /v1/tasks/show/<id>                        → 200 task      (a running task or a dead letter)
 *   POST /v1/tasks/retry/<id>                       → 200 {retried} (a dead letter back to its queue)
 *   POST /v1/tasks/rm/<id>                          → 200 {removed} (a dead letter deleted)
 *
 * Errors answer {"error": {"code", "message"}}: 400 for bad arguments, 404 TASK_NOT_FOUND.
 */
import { Gauge, Histogram, type Registry } from 'prom-client';
import { registerReadings, type Reading } from './metrics.js';
import type { Logger } from './logger.js';
import type { HttpRequest, HttpResponse } from './listeners/http.js';
import type { Store } from '../store/interfaces.js';
import { openTasks, type TaskOutbox } from '../tasks/tasks.js';
import { PurserError } from '../errors.js';
import { ServiceFailure } from '../bus/errors.js';
import type { Bus, ServiceRequest } from '../bus/interfaces.js';
import { TaskArgumentError, TaskNotFoundError } from '../tasks/errors.js';
import type { Tasks, TasksObserver, TasksStats } from '../tasks/interfaces.js';

const COUNTERS: Array<Reading<TasksStats>> = [
  ['purser_tasks_attempts_total', 'task attempts started (claims)', (s) => s.claimed],
  ['purser_tasks_completed_total', 'tasks completed', (s) => s.completed],
  ['purser_tasks_retries_total', 'failed attempts scheduled to run again after a back-off', (s) => s.retried],
  ['purser_tasks_dead_total', 'tasks that became dead letters (last attempt failed)', (s) => s.dead],
  ['purser_tasks_lease_expiries_total', 'attempts that lost their task at their timeout (hung handlers)', (s) => s.leaseExpiries],
  ['purser_tasks_recovered_total', 'runs of a crashed or killed process found at start and put back in their queues', (s) => s.recovered],
  ['purser_tasks_internal_errors_total', 'store operations of the outbox that failed unexpectedly (each is logged)', (s) => s.internalErrors],
];

/** Seconds, from 100 µs to a minute: pickups are sub-millisecond when idle, runs are anything. */
const BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Opens the node's outbox and registers its metrics; the node starts it once every part is up. */
export async function openNodeTasks(store: Store, logger: Logger, registry: Registry): Promise<Tasks> {
  const pickup = new Histogram({ name: 'purser_tasks_pickup_seconds', help: 'time from a task being due to its claim, in seconds', labelNames: ['queue'] as const, buckets: BUCKETS_SECONDS, registers: [registry] });
  const run = new Histogram({ name: 'purser_tasks_run_seconds', help: 'task handler run time by outcome, in seconds', labelNames: ['queue', 'outcome'] as const, buckets: BUCKETS_SECONDS, registers: [registry] });
  const observer: TasksObserver = {
    pickedUp: (queue, waitedMs) => pickup.observe({ queue }, waitedMs / 1000),
    ran: (queue, durationMs, outcome) => run.observe({ queue, outcome }, durationMs / 1000),
  };
  const tasks = await openTasks({ store, logger: logger.child({ part: 'tasks' }), observer });
  registerReadings(registry, () => tasks.stats(), COUNTERS, []);
  new Gauge({
    name: 'purser_tasks',
    help: 'tasks per queue and state (ready, scheduled, running, dead), from the store',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const counts of await tasks.queues().catch(() => [])) {
        for (const state of ['ready', 'scheduled', 'running', 'dead'] as const) this.set({ queue: counts.queue, state }, counts[state]);
      }
    },
  });
  return tasks;
}

/**
 * The services remote workers (`remoteTasks(client)`) call over the bus. A refusal (a bad argument, an
 * attempt that no longer owns its task) is TPESVCFAIL with `{ code, message }` as its data.
 *
 *   TASKS.CLAIM      { queue, max, leaseMs, waitMs } → RemoteClaim[]   (a long poll up to waitMs)
 *   TASKS.HEARTBEAT  { claims: [{ id, attempt }] }   → boolean[]       (still owned)
 *   TASKS.COMPLETE   { id, attempt }                 → null
 *   TASKS.FAIL       { id, attempt, error }          → null            (retried after back-off, or dead)
 */
export function advertiseTasksServices(bus: Bus, tasks: Tasks): void {
  // Advertised once a task for remote workers is declared: a node that has none shows no TASKS.* services.
  (tasks as TaskOutbox).onFirstDeclare(() => advertiseNow(bus, tasks as TaskOutbox));
}

function advertiseNow(bus: Bus, outbox: TaskOutbox): void {
  const refusing = (handler: (data: Record<string, unknown>) => unknown) => async (request: ServiceRequest) => {
    try {
      if (typeof request.data !== 'object' || request.data === null) throw new TaskArgumentError('TASKS.* services take an object');
      return await handler(request.data as Record<string, unknown>);
    } catch (error) {
      if (error instanceof PurserError) throw new ServiceFailure(1, { code: error.code, message: error.message });
      throw error;
    }
  };
  // Claims are long polls, so each waiting worker holds a server: many servers, a deep queue.
  bus.advertise('TASKS.CLAIM', refusing((data) => outbox.claimRemote(data.queue as string, data.max as number, data.leaseMs as number, data.waitMs as number)), { servers: 256, queueDepth: 4096 });
  bus.advertise('TASKS.HEARTBEAT', refusing((data) => {
    const claims = data.claims;
    if (!Array.isArray(claims) || claims.length > 10_000 || !claims.every(isClaimRef)) throw new TaskArgumentError('TASKS.HEARTBEAT takes { claims: [{ id: bigint, attempt: number }] } (at most 10,000)');
    return outbox.heartbeatRemote(claims);
  }), { servers: 16 });
  const finish = (failed: boolean) => refusing(async (data) => {
    if (!isClaimRef(data)) throw new TaskArgumentError('TASKS.COMPLETE and TASKS.FAIL take { id: bigint, attempt: number }');
    const reason = (data as { error?: unknown }).error;
    const error = failed ? (typeof reason === 'string' ? reason : 'failed (no reason given)') : null;
    await outbox.finishRemote(data.id, data.attempt, error);
    return null;
  });
  bus.advertise('TASKS.COMPLETE', finish(false), { servers: 16 });
  bus.advertise('TASKS.FAIL', finish(true), { servers: 16 });
}

function isClaimRef(value: unknown): value is { id: bigint; attempt: number } {
  const ref = value as { id?: unknown; attempt?: unknown };
  return typeof value === 'object' && value !== null && typeof ref.id === 'bigint' && Number.isSafeInteger(ref.attempt);
}

export interface TasksRoute {
  method: 'GET' | 'POST';
  path: string;
  handler: (request: HttpRequest) => Promise<HttpResponse>;
}

export function tasksHttpRoutes(tasks: Tasks): TasksRoute[] {
  return [
    { method: 'GET', path: '/v1/tasks', handler: async () => ({ status: 200, body: await tasks.queues() }) },
    {
      method: 'GET',
      path: '/v1/tasks/list',
      handler: (request) => answer(async () => {
        const state = request.query.get('state') ?? undefined;
        const queue = request.query.get('queue') ?? undefined;
        const limitText = request.query.get('limit');
        const limit = limitText === null ? undefined : Number(limitText);
        return tasks.list({ state: state as 'dead' | undefined, queue, limit });
      }),
    },
    { method: 'GET', path: '/v1/tasks/show/*', handler: (request) => answer(() => tasks.show(parseId(request.rest))) },
    { method: 'POST', path: '/v1/tasks/retry/*', handler: (request) => answer(async () => ({ retried: (await tasks.retry(parseId(request.rest)), request.rest) })) },
    { method: 'POST', path: '/v1/tasks/rm/*', handler: (request) => answer(async () => ({ removed: (await tasks.remove(parseId(request.rest)), request.rest) })) },
  ];
}

async function answer(run: () => Promise<unknown>): Promise<HttpResponse> {
  try {
    return { status: 200, body: await run() };
  } catch (error) {
    if (error instanceof TaskNotFoundError) return { status: 404, body: { error: { code: error.code, message: error.message } } };
    throw error; // a PurserError answers 400 with its code (the listener's rule); anything else 500, logged
  }
}

function parseId(text: string): bigint {
  if (!/^[1-9]\d{0,19}$/.test(text)) throw new TaskArgumentError(`a task id is a positive whole number, got ${JSON.stringify(text.slice(0, 40))}`);
  return BigInt(text);
}
