/**
 * The task outbox's errors. Bad input gets one of these before anything is written (the caller's store
 * transaction is left as it was, so the caller may catch the error and carry on or abort).
 */
import { PurserError } from '../errors.js';

/** A task name, queue, topic, option or handler was of the wrong type, unknown, or out of its documented range. */
export class TaskArgumentError extends PurserError {
  static override readonly codes = ['TASK_INVALID_ARGUMENT'] as const;
  declare readonly code: 'TASK_INVALID_ARGUMENT';

  constructor(message: string, options?: { cause?: unknown }) {
    super('TASK_INVALID_ARGUMENT', message, options);
  }
}

/** `enqueue` or `publish` named a task that has no handler registered (`tasks.register`). Nothing was written. */
export class TaskUnknownError extends PurserError {
  static override readonly codes = ['TASK_UNKNOWN'] as const;
  declare readonly code: 'TASK_UNKNOWN';

  constructor(name: string) {
    super('TASK_UNKNOWN', `no handler is registered for task ${JSON.stringify(name)}; call tasks.register(name, handler) first`);
  }
}

/** A payload could not be serialised (a function, a symbol, a class instance with private state), or is over the size limit. */
export class TaskPayloadError extends PurserError {
  static override readonly codes = ['TASK_PAYLOAD_NOT_SERIALIZABLE', 'TASK_PAYLOAD_TOO_LARGE'] as const;
  declare readonly code: 'TASK_PAYLOAD_NOT_SERIALIZABLE' | 'TASK_PAYLOAD_TOO_LARGE';

  constructor(code: 'TASK_PAYLOAD_NOT_SERIALIZABLE' | 'TASK_PAYLOAD_TOO_LARGE', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * `job.transaction` was called when this attempt no longer owns the task: its lease ended (timeout, stop),
 * another attempt took it over, or the task was already completed. Nothing the function wrote was committed.
 */
export class TaskNotRunningError extends PurserError {
  static override readonly codes = ['TASK_NOT_RUNNING'] as const;
  declare readonly code: 'TASK_NOT_RUNNING';

  constructor(message: string) {
    super('TASK_NOT_RUNNING', message);
  }
}

/** An operator action (`retry`, `rm`, `show`) named a task id that is not there. */
export class TaskNotFoundError extends PurserError {
  static override readonly codes = ['TASK_NOT_FOUND'] as const;
  declare readonly code: 'TASK_NOT_FOUND';

  constructor(message: string) {
    super('TASK_NOT_FOUND', message);
  }
}

/** The outbox was stopped, or a second outbox was opened on a store that has one. */
export class TasksClosedError extends PurserError {
  static override readonly codes = ['TASKS_CLOSED', 'TASKS_ALREADY_OPEN'] as const;
  declare readonly code: 'TASKS_CLOSED' | 'TASKS_ALREADY_OPEN';

  constructor(code: 'TASKS_CLOSED' | 'TASKS_ALREADY_OPEN', message: string) {
    super(code, message);
  }
}
