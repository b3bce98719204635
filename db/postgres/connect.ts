/**
 * Opens the PostgreSQL store (`DATABASE_URL=postgres://…` or `postgresql://…`):
 * migrations first (under an advisory lock, so instances starting together apply
 * them once), then one postgres.js pool for the stores and, once a broker
 * subscribes, one more connection that LISTENs for wake-ups.
 *
 * The driver is `postgres` (postgres.js): pure JavaScript (no FFI, so it runs on
 * Deno Deploy), it pipelines statements and prepares them per connection, and it
 * LISTENs again by itself after a reconnect (tests/bench/pg_drivers.ts measured it
 * against `pg`).
 */
import postgres from "postgres";
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { FilaStore } from "../../tasks/stores.ts";
import { PostgresOutboxStore, PostgresQuoteStore, PostgresSalesStore } from "./app_stores.ts";
import * as schema from "./schema.ts";
import { PostgresTaskStore } from "./task_store.ts";
import { PgWakeupChannel } from "./wakeups.ts";

export type Database = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };

/** Connections per instance: a turn, the API's reads, heartbeats and progress at once. */
const POOL_SIZE = 10;
/** Reconnect delays grow as postgres.js's do (×3 from 30 ms), but never past this many seconds. */
const MAX_RECONNECT_DELAY_S = 1;
const MIGRATIONS_FOLDER = new URL("./migrations", import.meta.url);
/** pg_advisory_lock key held while migrating: "fila" in ASCII. */
const MIGRATION_LOCK = 0x66696c61;

/** A PostgreSQL database's stores, plus what only PostgreSQL has. */
export interface PostgresStore extends FilaStore {
  readonly db: Database;
  readonly sql: postgres.Sql;
  readonly wakeups: PgWakeupChannel;
}

/**
 * postgres.js options for Fila: int8 as JS numbers (epoch ms fit), json as text
 * (drizzle and the row mappers parse it once: a stored JSON string stays a string),
 * short reconnect backoff (the LISTEN connection is deaf until it reconnects).
 */
export function clientOptions(max = POOL_SIZE): postgres.Options<Record<string, never>> {
  return {
    max,
    onnotice: () => {},
    connect_timeout: 10,
    backoff: (retries) =>
      Math.min(MAX_RECONNECT_DELAY_S, (0.5 + Math.random() / 2) * (3 ** retries / 100)),
    connection: { application_name: "fila" },
    types: {
      int8: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: (text: string) => Number(text),
      },
      json: {
        to: 114,
        from: [114, 3802],
        serialize: (text: string) => text,
        parse: (text: string) => text,
      },
    } as unknown as Record<string, never>,
  };
}

/** Opens the database at `url`, applies the migrations, and builds its stores. */
export async function openPostgresStore(url: string): Promise<PostgresStore> {
  await applyMigrations(url);
  const sql = postgres(url, clientOptions());
  const db = drizzle({ client: sql, schema }) as Database;
  const wakeups = new PgWakeupChannel(sql);
  return {
    kind: "postgres",
    db,
    sql,
    wakeups,
    tasks: new PostgresTaskStore(db, sql, wakeups),
    quotes: new PostgresQuoteStore(db),
    outbox: new PostgresOutboxStore(db),
    sales: new PostgresSalesStore(db, sql),
    upkeep: {},
    async close() {
      await wakeups.close();
      await sql.end({ timeout: 5 });
    },
  };
}

/**
 * Brings the schema up to date on a connection of its own, holding an advisory
 * lock: a second instance starting at the same moment waits, then finds every
 * migration recorded and applies none. Ending the session releases the lock.
 */
async function applyMigrations(url: string): Promise<void> {
  const { migrate } = await import("drizzle-orm/postgres-js/migrator");
  const sql = postgres(url, {
    ...clientOptions(1),
    connection: { application_name: "fila-migrate" },
  });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migrate(drizzle({ client: sql }), {
      migrationsFolder: decodeURIComponent(MIGRATIONS_FOLDER.pathname),
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}
