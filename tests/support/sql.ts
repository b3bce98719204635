/**
 * Plain SQL against a test instance's database, whichever store it is, for
 * tests that look under the API (counting executions, aging rows). A separate
 * connection: it sees what the instance committed, as another process would.
 * Embedded files go through Fila's own LocalClient, which waits for another
 * process's lock instead of failing (several instances write the same file).
 */
import { createClient } from "@libsql/client";
import type { Client } from "@libsql/client";
import { LocalClient } from "../../db/libsql/local_client.ts";

export interface SqlClient {
  /** Runs one statement with positional `?` arguments; rows as plain objects. */
  query<T = Record<string, unknown>>(sql: string, args?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** A client for the database at `url` (file:, libsql:, http:). */
export function openSql(url: string): SqlClient {
  const client: Client = url.startsWith("file:")
    ? new LocalClient(url.slice("file:".length).replace(/^\/\/(localhost)?/, ""))
    : createClient({ url });
  return {
    async query<T>(sql: string, args: unknown[] = []) {
      const rs = await client.execute({ sql, args: args as never });
      return rs.rows.map((row) => Object.fromEntries(rs.columns.map((c) => [c, row[c]]))) as T[];
    },
    close() {
      client.close();
      return Promise.resolve();
    },
  };
}
