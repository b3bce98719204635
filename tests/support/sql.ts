/**
 * Plain SQL against a test instance's database, whichever store it is, for
 * tests that look under the API (counting executions, aging rows). A separate
 * connection: it sees what the instance committed, as another process would.
 * Embedded files go through Fila's own LocalClient, which waits for another
 * process's lock instead of failing (several instances write the same file).
 */
import type { Client } from "@libsql/client";

export interface SqlClient {
  /** Runs one statement with positional `?` arguments; rows as plain objects. */
  query<T = Record<string, unknown>>(sql: string, args?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * A client for the database at `url` (file:, libsql:, http:). Drivers load on
 * first use, so a process that cannot load native code (Deploy-shaped tests)
 * may import this module.
 */
export function openSql(url: string): SqlClient {
  let client: Promise<Client> | null = null;
  const connect = async (): Promise<Client> => {
    if (url.startsWith("file:")) {
      const { LocalClient } = await import("../../db/libsql/local_client.ts");
      return new LocalClient(url.slice("file:".length).replace(/^\/\/(localhost)?/, ""));
    }
    const { createClient } = await import("@libsql/client/web");
    return createClient({ url });
  };
  return {
    async query<T>(sql: string, args: unknown[] = []) {
      const db = await (client ??= connect());
      const rs = await db.execute({ sql, args: args as never });
      return rs.rows.map((row) => Object.fromEntries(rs.columns.map((c) => [c, row[c]]))) as T[];
    },
    async close() {
      if (client) (await client).close();
    },
  };
}
