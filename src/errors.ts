/**
 * One error model for the whole package.
 *
 * Every error Purser throws on purpose is a `PurserError`: a stable string `code` that programs switch on
 * (never the message, which may be reworded), a message that says what was wrong and what to do about it,
 * and the underlying `cause` when there is one. Each part defines its subclasses next to its code
 * (`store/errors.ts`, `bus/errors.ts`, …) and the package root re-exports them for `instanceof` checks.
 *
 * Codes are SCREAMING_SNAKE_CASE and never change meaning once released; XATMI errors keep their
 * historical `TPE…` names.
 *
 * One style throughout: a class stands for one kind of failure and lists the codes it carries in
 * `static codes` (most carry one; `XatmiError`, `ClientError`, `NodeError`… carry a family); its `code`
 * property is typed with exactly those codes, so `switch (error.code)` is checked by the compiler. A code
 * belongs to one class only, across the whole package (test/errors.test.ts lists them all).
 */
export class PurserError extends Error {
  /** The codes instances of this class carry; the constructor refuses any other. */
  static readonly codes: readonly string[] = [];
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (!/^[A-Z][A-Z0-9_]*$/.test(code)) throw new TypeError(`error code must be SCREAMING_SNAKE_CASE: ${code}`);
    const codes = new.target.codes;
    if (new.target !== PurserError && !codes.includes(code)) throw new TypeError(`${new.target.name} does not carry the code ${code}`);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad configuration: an unknown flag, a malformed value, a value out of range. The CLI exits 2 on it. */
export class ConfigError extends PurserError {
  static override readonly codes = ['CONFIG_INVALID'] as const;
  declare readonly code: 'CONFIG_INVALID';

  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG_INVALID', message, options);
  }
}

/** A caller passed an argument of the wrong type or shape to a public function. Nothing was changed. */
export class InvalidArgumentError extends PurserError {
  static override readonly codes = ['INVALID_ARGUMENT'] as const;
  declare readonly code: 'INVALID_ARGUMENT';

  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** Throws an `InvalidArgumentError` unless `condition` holds. For validating what callers pass in. */
export function requireArgument(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvalidArgumentError(message);
}

/**
 * Asserts an internal invariant. A failure is a bug in Purser, not bad input: it is not a PurserError,
 * it is never caught on purpose, and it crashes loudly rather than letting corrupt state spread.
 */
export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionFailure(message);
}

export class AssertionFailure extends Error {
  constructor(message: string) {
    super(`invariant violated: ${message}`);
    this.name = 'AssertionFailure';
  }
}

/** What a `catch` caught, as an Error: a thrown non-Error (a string, a number) becomes one with its text. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
