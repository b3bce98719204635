/**
 * Errors with a meaning for the engine's callers, and the two a task throws to
 * steer its own retries. HTTP statuses are chosen in `routes/errors.ts`.
 */

/** No task has that id. */
export class TaskNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no task with id '${id}'`);
    this.name = "TaskNotFoundError";
  }
}

/** The task is in a status that does not allow the operation (cancel a finished one, ...). */
export class TaskConflictError extends Error {
  constructor(message: string, readonly status: string) {
    super(message);
    this.name = "TaskConflictError";
  }
}

/** A submission the engine refuses: unknown type, payload that does not fit, bad timing. */
export class InvalidTaskError extends Error {
  constructor(
    message: string,
    /** Field-level problems (`path` dotted, e.g. `payload.numbers.0`). */
    readonly issues: { path: string; message: string }[] = [],
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "InvalidTaskError";
  }

  /** The same error for item `index` of a batch: paths and message say which item. */
  forItem(index: number): InvalidTaskError {
    return new InvalidTaskError(
      `tasks[${index}]: ${this.message}`,
      this.issues.map((i) => ({ path: `tasks.${index}.${i.path}`, message: i.message })),
      { ...this.extra, index },
    );
  }
}

/**
 * The store could not take a write in time (a lock held elsewhere past the bound,
 * a full disk): nothing was stored, the caller may try again.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, readonly reason: "busy" | "full" | "down", options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** Thrown by a task that must not be retried (BullMQ's UnrecoverableError, Celery's Reject). */
export class UnrecoverableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnrecoverableError";
  }
}

/** Thrown by a task that wants its next attempt no sooner than `retryAfterMs` (e.g. a 429). */
export class RetryLaterError extends Error {
  constructor(message: string, readonly retryAfterMs: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "RetryLaterError";
  }
}
