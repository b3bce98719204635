/**
 * Errors with a meaning. `FilaError` carries a code that routes map to an HTTP
 * status; the other two let a task steer its own retries.
 */

export type ErrorCode =
  | "bad_request"
  | "validation_failed"
  | "unauthorized"
  | "not_found"
  | "conflict"
  | "payload_too_large"
  | "rate_limited"
  | "upstream_failed"
  | "unavailable";

/** An error meant for the client: a code, a message, and optional details. */
export class FilaError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "FilaError";
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
