/**
 * Database faults as the engine understands them: a lock held elsewhere past
 * the wait, a full disk or an unreachable server become StoreUnavailableError
 * (503/507 at the API, and no attempt charged for a write the store refused).
 * Both stores report through here; anything else passes unchanged.
 */
import { StoreUnavailableError } from "../tasks/engine/errors.ts";

/**
 * SQLite result codes (libSQL), SQLSTATEs (PostgreSQL: serialization failure, deadlock, lock
 * not available, statement cancelled, too many connections; disk full, out of memory;
 * connection exceptions, server shutting down or starting up) and socket errors, by what they
 * mean to Fila.
 */
const BUSY = /^(SQLITE_BUSY|SQLITE_LOCKED|40001|40P01|55P03|57014|53300)/;
const FULL = /^(SQLITE_FULL|53100|53200)/;
const DOWN =
  /^(SQLITE_CANTOPEN|SQLITE_IOERR|08\d{3}|57P0[1-3]|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|CONNECT_TIMEOUT|CONNECTION_)/;
/** node-postgres says a connection broke, or could not be had in time, only in its messages. */
const DOWN_MESSAGE =
  /fetch failed|connection refused|ECONNREFUSED|Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i;

/** The StoreUnavailableError `error` stands for, or `error` itself. */
export function toStoreError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !(error instanceof Error)) return error;
  // drizzle reports a failed query as its own error, the driver's as its cause
  const origin = (error as { code?: unknown }).code === undefined && error.cause instanceof Error
    ? error.cause
    : error;
  const code = String((origin as { code?: unknown }).code ?? "");
  const message = origin.message;
  if (BUSY.test(code) || /database is (locked|busy)/i.test(message)) {
    return new StoreUnavailableError(`the database is busy: ${message}`, "busy", { cause: error });
  }
  if (FULL.test(code) || /database or disk is full|no space left/i.test(message)) {
    return new StoreUnavailableError(`the database cannot grow: ${message}`, "full", {
      cause: error,
    });
  }
  if (DOWN.test(code) || DOWN_MESSAGE.test(message)) {
    return new StoreUnavailableError(`the database is unreachable: ${message}`, "down", {
      cause: error,
    });
  }
  return error;
}

/** Runs `work`, reporting database faults as StoreUnavailableError. */
export async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toStoreError(error);
  }
}
