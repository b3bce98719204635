/**
 * The one place that picks a database by `DATABASE_URL` and builds its stores.
 * Each store's code is imported only when its URL is given, so a Deploy
 * instance on a remote database never loads a native driver.
 */
import type { FilaStore } from "../tasks/stores.ts";

export interface StoreOptions {
  /** libSQL's remote servers (libsql:, http(s):, ws(s):). */
  authToken?: string;
  /** How long a write may wait for a lock another process holds (a libSQL file's, PostgreSQL rows'). */
  lockWaitMs?: number;
}

/** Opens the store `url` names (file:, libsql:, http(s):, ws(s):, postgres(ql):), migrated and ready. */
export async function openStore(url: string, options: StoreOptions = {}): Promise<FilaStore> {
  if (/^postgres(ql)?:/.test(url)) {
    return (await import("./postgres/connect.ts")).openPostgresStore(url, options);
  }
  const { openLibsqlStore } = await import("./libsql/connect.ts");
  return await openLibsqlStore(url, options);
}
