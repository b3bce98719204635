/**
 * Where the bench's instances keep their data, per broker driver: `kv` and `db`
 * on a libSQL file in the instance's temp dir, `pg` on a fresh database of one
 * throw-away PostgreSQL cluster (tests/support/postgres.ts: Debian's server,
 * every setting at its default, durable commits) started once per bench run, as
 * ../shared/peers/run.sh runs graphile-worker and pg-boss.
 */
import { createClient } from "@libsql/client";
import { type PostgresCluster, startPostgres } from "../support/postgres.ts";
import { openSql, type SqlClient } from "../support/sql.ts";

let cluster: Promise<PostgresCluster> | null = null;

/** The store a driver runs on in the bench. */
export function storeOf(driver: string): "libsql" | "postgres" {
  return driver === "pg" ? "postgres" : "libsql";
}

/**
 * The DATABASE_URL of a new bench database for `driver`: the instance dir's
 * file, or a new database in the bench's cluster (started on first use).
 */
export async function benchDatabase(driver: string, dir: string): Promise<string> {
  if (storeOf(driver) === "libsql") return `file:${dir}/fila.db`;
  cluster ??= startPostgres({ database: "bench" });
  return await (await cluster).createDatabase();
}

/** Stops the bench's PostgreSQL cluster, if one was started. */
export async function stopBenchCluster(): Promise<void> {
  if (cluster) await (await cluster).stop();
  cluster = null;
}

/** The shape of @libsql/client's execute the bench reads results with, on either store. */
export interface BenchDb {
  execute(sql: string): Promise<{ rows: Record<string, unknown>[] }>;
  close(): void;
}

/**
 * Reads a bench database: `locator` is a libSQL file path (read with @libsql/client, as the
 * bench always has) or a postgres:// URL.
 */
export function benchDb(locator: string): BenchDb {
  if (!/^postgres(ql)?:/.test(locator)) {
    const client = createClient({ url: `file:${locator}` });
    return {
      async execute(text: string) {
        const rs = await client.execute(text);
        return { rows: rs.rows as unknown as Record<string, unknown>[] };
      },
      close: () => client.close(),
    };
  }
  const sql: SqlClient = openSql(locator);
  return {
    async execute(text: string) {
      return { rows: await sql.query(text) };
    },
    close() {
      sql.close();
    },
  };
}
