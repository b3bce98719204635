/**
 * The one place that picks a database by `DATABASE_URL` and builds its stores.
 * Each store's code is imported only when its URL is given, so a Deploy
 * instance on a remote database never loads a native driver.
 */
import type { FilaStore } from "../tasks/stores.ts";

export interface StoreOptions {
  authToken?: string;
  /** How long a write may wait, in all, for a lock another process holds. */
  lockWaitMs?: number;
}

/** Opens the store `url` names (file:, libsql:, http(s):, ws(s):), migrated and ready. */
export async function openStore(url: string, options: StoreOptions = {}): Promise<FilaStore> {
  const { openLibsqlStore } = await import("./libsql/connect.ts");
  return await openLibsqlStore(url, options);
}
