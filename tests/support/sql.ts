/**
 * Plain SQL against a test instance's database, whichever store it is, for
 * tests that look under the API (counting executions, aging rows). A separate
 * connection: it sees what the instance committed, as another process would.
 * Embedded files go through Fila's own LocalClient, which waits for another
 * process's lock instead of failing (several instances write the same file).
 * PostgreSQL goes through node-postgres, as Fila does; the same `?` placeholders
 * work there, and values come back as libSQL gives them (bigints as numbers, JSON
 * as text: the store sets pg's parsers so, for the whole process).
 * Each store's client is imported on first use: libSQL's loads a native add-on,
 * which a child instance started with Deploy's limits (--deny-ffi) cannot, and
 * neither should weigh on an instance (a bench's child) that never uses it.
 */
import type { Client } from "@libsql/client";
// @ts-types="npm:@types/pg@^8.23.1"
import type pg from "pg";

export interface SqlClient {
  /** Runs one statement with positional `?` arguments; rows as plain objects. */
  query<T = Record<string, unknown>>(sql: string, args?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * A client for the database at `url` (file:, libsql:, http:, postgres:). Drivers load on
 * first use, so a process that cannot load native code (Deploy-shaped tests)
 * may import this module.
 */
export function openSql(url: string): SqlClient {
  if (/^postgres(ql)?:/.test(url)) return openPostgres(url);
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

function openPostgres(url: string): SqlClient {
  let opened: Promise<pg.Pool> | null = null;
  const pool = () =>
    opened ??= import("pg").then(({ default: pg }) => {
      pg.types.setTypeParser(pg.types.builtins.INT8, Number);
      pg.types.setTypeParser(pg.types.builtins.JSON, (text: string) => text);
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      pool.on("error", () => {}); // an idle connection lost (the server restarted): dropped
      return pool;
    });
  return {
    async query<T>(text: string, args: unknown[] = []) {
      return (await (await pool()).query(toDollarParams(text), args)).rows as T[];
    },
    async close() {
      if (opened) await (await opened).end();
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
