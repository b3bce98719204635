/**
 * Database faults as the engine understands them: a lock held elsewhere past
 * the wait, a full disk or an unreachable server become StoreUnavailableError
 * (503/507 at the API, and no attempt charged for a write the store refused).
 * Both stores report through here; anything else passes unchanged.
 */
import { StoreUnavailableError } from "../tasks/engine/errors.ts";

/** SQLite result codes (libSQL) and SQLSTATEs (PostgreSQL) by what they mean to Fila. */
const BUSY = /^(SQLITE_BUSY|SQLITE_LOCKED|40001|40P01|55P03|57014)/;
const FULL = /^(SQLITE_FULL|53100|53200)/;
const DOWN =
  /^(SQLITE_CANTOPEN|SQLITE_IOERR|08\d{3}|57P0[1-3]|ECONNREFUSED|ECONNRESET|CONNECT_TIMEOUT|CONNECTION_)/;

/** The StoreUnavailableError `error` stands for, or `error` itself. */
export function toStoreError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !(error instanceof Error)) return error;
  const code = String((error as { code?: unknown }).code ?? "");
  const message = error.message;
  if (BUSY.test(code) || /database is (locked|busy)/i.test(message)) {
    return new StoreUnavailableError(`the database is busy: ${message}`, "busy", { cause: error });
  }
  if (FULL.test(code) || /database or disk is full|no space left/i.test(message)) {
    return new StoreUnavailableError(`the database cannot grow: ${message}`, "full", {
      cause: error,
    });
  }
  if (DOWN.test(code) || /fetch failed|connection refused|ECONNREFUSED/i.test(message)) {
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
