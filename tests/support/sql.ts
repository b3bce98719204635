/**
 * Plain SQL against a test instance's database, whichever store it is, for
 * tests that look under the API (counting executions, aging rows). A separate
 * connection: it sees what the instance committed, as another process would.
 * Embedded files go through Fila's own LocalClient, which waits for another
 * process's lock instead of failing (several instances write the same file).
 * PostgreSQL goes through postgres.js; the same `?` placeholders work there, and
 * values come back as libSQL gives them (bigints as numbers, JSON as text).
 */
import { createClient } from "@libsql/client";
import type { Client } from "@libsql/client";
import postgres from "postgres";
import { LocalClient } from "../../db/libsql/local_client.ts";

export interface SqlClient {
  /** Runs one statement with positional `?` arguments; rows as plain objects. */
  query<T = Record<string, unknown>>(sql: string, args?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** A client for the database at `url` (file:, libsql:, http:, postgres:). */
export function openSql(url: string): SqlClient {
  if (/^postgres(ql)?:/.test(url)) return openPostgres(url);
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

function openPostgres(url: string): SqlClient {
  const sql = postgres(url, {
    max: 2,
    onnotice: () => {},
    types: {
      int8: { to: 20, from: [20], serialize: String, parse: Number },
      json: { to: 114, from: [114, 3802], serialize: (x: string) => x, parse: (x: string) => x },
    } as unknown as Record<string, never>,
  });
  return {
    async query<T>(text: string, args: unknown[] = []) {
      const rows = await sql.unsafe(toDollarParams(text), args as never[]);
      return [...rows] as T[];
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}

/** `?` placeholders as PostgreSQL's `$1, $2, …` (outside quoted strings). */
export function toDollarParams(text: string): string {
  let n = 0;
  let quoted: string | null = null;
  let out = "";
  for (const char of text) {
    if (quoted) {
      if (char === quoted) quoted = null;
    } else if (char === "'" || char === '"') {
      quoted = char;
    } else if (char === "?") {
      out += `$${++n}`;
      continue;
    }
    out += char;
  }
  return out;
}
