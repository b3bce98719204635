/**
 * Opens the PostgreSQL store (`DATABASE_URL=postgres://...` or `postgresql://...`):
 * migrations first (under an advisory lock, so instances starting together apply
 * them once), then one connection pool for the stores and, once a broker
 * subscribes, one more connection that LISTENs for wake-ups (wakeups.ts).
 *
 * The driver is `pg` (node-postgres): pure JavaScript (no FFI, so it runs on Deno
 * Deploy) and the most used PostgreSQL client on npm. postgres.js measured faster
 * (tests/bench/pg_drivers.ts), but with 3.4.9 a PostgreSQL restart under load
 * crashed the process (an uncatchable TypeError: a write scheduled on a socket
 * that had closed) or left transactions waiting forever, and its `reserve()`
 * returns dead connections to the pool (porsager/postgres #1199, #1208); node-
 * postgres's pool dropped the broken connections and carried on through fast,
 * immediate and killed restarts. What postgres.js brought besides speed (LISTEN
 * again after a reconnect) is a few lines here.
 */
// @ts-types="npm:@types/pg@^8.23.1"
import pg from "pg";
import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import { getLogger } from "@logtape/logtape";
import type { FilaStore } from "../../tasks/stores.ts";
import {
  PostgresOutboxStore,
  PostgresQuoteStore,
  PostgresSalesStore,
  PostgresScheduleStore,
} from "./app_stores.ts";
import * as schema from "./schema.ts";
import { PostgresTaskStore } from "./task_store.ts";
import { PgWakeupChannel } from "./wakeups.ts";

export type Database = NodePgDatabase<typeof schema> & { $client: pg.Pool };

/** Connections per instance: a turn, the API's reads, heartbeats and progress at once. */
const POOL_SIZE = 10;
const CONNECT_TIMEOUT_MS = 10_000;
/** Connections opened at start: a turn, a sweep and a request find one ready. */
const WARM_CONNECTIONS = 3;
const MIGRATIONS_FOLDER = new URL("./migrations", import.meta.url);
/** pg_advisory_lock key held while migrating: "fila" in ASCII. */
const MIGRATION_LOCK = 0x66696c61;
const log = getLogger(["fila", "db"]);

/**
 * How values come back, for drizzle's queries and Fila's own alike (pg's parsers
 * are per process): int8 as a JS number (epoch ms fit in 2^53), json as its text,
 * which drizzle and the row mappers parse once -- parsed here too, a stored JSON
 * string ("42") would be parsed again by drizzle into 42.
 */
pg.types.setTypeParser(pg.types.builtins.INT8, Number);
pg.types.setTypeParser(pg.types.builtins.JSON, (text: string) => text);
pg.types.setTypeParser(pg.types.builtins.JSONB, (text: string) => text);

/** A PostgreSQL database's stores, plus what only PostgreSQL has. */
export interface PostgresStore extends FilaStore {
  readonly db: Database;
  readonly pool: pg.Pool;
  readonly wakeups: PgWakeupChannel;
}

/** Connection settings shared by the pool, the LISTEN connection and the migrator. */
export function connectionConfig(
  url: string,
  applicationName: string,
  origin?: string,
  lockWaitMs?: number,
): pg.ClientConfig {
  const settings = [
    // who wrote a change, as the wake-up triggers read it (migration 0001)
    ...(origin ? [`-c fila.origin=${origin}`] : []),
    // DATABASE_LOCK_WAIT_MS, as on libSQL: a write waits this long for a row another
    // transaction holds, then fails (55P03: busy, a 503). 0 would mean "forever" here.
    ...(lockWaitMs !== undefined ? [`-c lock_timeout=${Math.max(1, lockWaitMs)}`] : []),
  ];
  return {
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    application_name: applicationName,
    ...(settings.length > 0 ? { options: settings.join(" ") } : {}),
  };
}

/**
 * Opens the database at `url`, applies the migrations, and builds its stores.
 * `lockWaitMs` bounds the pool's waits for locks (not the migrator's: it waits
 * for another instance's migrations on purpose).
 */
export async function openPostgresStore(
  url: string,
  { lockWaitMs }: { lockWaitMs?: number } = {},
): Promise<PostgresStore> {
  await applyMigrations(url);
  // this process's name in the wake-ups its writes cause (see PgWakeupChannel)
  const origin = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const pool = new pg.Pool({
    ...connectionConfig(url, "fila", origin, lockWaitMs),
    max: POOL_SIZE,
    idleTimeoutMillis: 60_000,
  });
  // an idle connection that breaks (server restarted) is dropped by the pool; without a
  // listener its 'error' event would end the process
  pool.on("error", (error) => log.debug("idle connection lost: {error}", { error: error.message }));
  // connections opened now, not by the first requests (opening one takes tens of ms)
  try {
    await Promise.all(Array.from({ length: WARM_CONNECTIONS }, () => pool.query("SELECT 1")));
  } catch (error) {
    await pool.end();
    throw error;
  }
  const db = drizzle({ client: pool, schema }) as Database;
  let closing: Promise<void> | null = null;
  const wakeups = new PgWakeupChannel(
    pool,
    origin,
    () => new pg.Client(connectionConfig(url, "fila-wakeups")),
  );
  return {
    kind: "postgres",
    db,
    pool,
    wakeups,
    tasks: new PostgresTaskStore(db, pool, wakeups),
    quotes: new PostgresQuoteStore(db),
    outbox: new PostgresOutboxStore(db),
    sales: new PostgresSalesStore(db, pool),
    schedules: new PostgresScheduleStore(db),
    upkeep: {},
    close() {
      closing ??= (async () => {
        await wakeups.close();
        await pool.end();
      })();
      return closing;
    },
  };
}

/**
 * Brings the schema up to date on a connection of its own, holding an advisory
 * lock: a second instance starting at the same moment waits, then finds every
 * migration recorded and applies none. Closing the connection releases the lock.
 */
async function applyMigrations(url: string): Promise<void> {
  const { migrate } = await import("drizzle-orm/node-postgres/migrator");
  const client = new pg.Client(connectionConfig(url, "fila-migrate"));
  client.on("error", () => {}); // the awaited calls below report it
  await client.connect();
  try {
    await client.query("SET client_min_messages = warning"); // no NOTICE for "already exists"
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await migrate(drizzle({ client }), {
      migrationsFolder: decodeURIComponent(MIGRATIONS_FOLDER.pathname),
    });
  } finally {
    await client.end().catch(() => {});
  }
}
