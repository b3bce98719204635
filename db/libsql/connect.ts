/**
 * Opens a libSQL store: an embedded file by default, or a remote libsql:// /
 * http(s):// server (Turso, sqld). Nothing native is loaded for a remote store:
 * the embedded driver (`libsql`, a native add-on) is imported only for `file:`
 * URLs, and a remote URL goes through `@libsql/client/web` (fetch), which is
 * what lets Fila start on Deno Deploy (no FFI there).
 *
 * File databases get WAL, synchronous=NORMAL and a short native busy timeout
 * (LocalClient waits for locks in JavaScript), and a second connection that
 * runs WAL checkpoints off the event loop (checkpointer.ts).
 */
import type { Client } from "@libsql/client";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import { getLogger } from "@logtape/logtape";
import type { FilaStore } from "../../tasks/stores.ts";
import type { StoreOptions } from "../open_store.ts";
import {
  LibsqlOutboxStore,
  LibsqlQuoteStore,
  LibsqlSalesStore,
  LibsqlScheduleStore,
} from "./app_stores.ts";
import * as schema from "./schema.ts";
import { LibsqlTaskStore } from "./task_store.ts";

export type Database = LibSQLDatabase<typeof schema> & { $client: Client };

const log = getLogger(["fila", "db"]);
const MIGRATIONS_FOLDER = new URL("./migrations", import.meta.url);
/** Bytes per page of a database this module creates (see where it is set). */
export const PAGE_SIZE = 2048;

/** A libSQL database's stores, plus what only libSQL has. */
export interface LibsqlStore extends FilaStore {
  readonly db: Database;
}

/** Opens the database at `url`, applies the migrations, and builds its stores. */
export async function openLibsqlStore(
  url: string,
  { authToken, lockWaitMs = 10_000 }: StoreOptions = {},
): Promise<LibsqlStore> {
  const local = url.startsWith("file:");
  let client: Client;
  let db: Database;
  let canWrite: (ms: number) => Promise<boolean>;
  let stopCheckpoints = () => Promise.resolve();
  const upkeep: LibsqlStore["upkeep"] = {};
  if (local) {
    const path = filePath(url);
    await ensureParentFolder(path);
    const { LocalClient } = await import("./local_client.ts");
    const { drizzle } = await import("drizzle-orm/libsql/sqlite3");
    // libsql's native calls are synchronous; one connection is enough and keeps
    // the per-connection pragmas below in force.
    const localClient = new LocalClient(path, { lockWaitMs });
    client = localClient;
    // A new database gets 2 KiB pages (an existing one keeps its own: a WAL database
    // cannot change it). Each turn changes a few small rows (the tasks it ends and
    // claims, their index entries) spread over many pages, and every changed page is
    // written whole to the WAL at commit: 2 KiB pages wrote 30 % fewer bytes than
    // 4 KiB and ran end to end and drain 3-4 % faster; 1 KiB pages halved the bytes
    // but doubled the writes and lost it again.
    await client.execute(`PRAGMA page_size = ${PAGE_SIZE}`);
    await client.execute("PRAGMA journal_mode = WAL");
    await client.execute("PRAGMA synchronous = NORMAL");
    canWrite = (ms) => localClient.canWrite(ms);
    if (path !== ":memory:") {
      const { Checkpointer } = await import("./checkpointer.ts");
      const checkpointer = await Checkpointer.start(path, localClient);
      if (checkpointer) {
        stopCheckpoints = () => checkpointer.stop();
        // a failing checkpoint lets the WAL grow
        upkeep.checkpoints = () =>
          checkpointer.lastError === null
            ? { ok: true }
            : { ok: false, error: checkpointer.lastError };
      }
    }
    db = drizzle({ client, schema }) as Database;
  } else {
    const { createClient } = await import("@libsql/client/web");
    const { drizzle } = await import("drizzle-orm/libsql/web");
    client = createClient({ url: toWebUrl(url), authToken });
    canWrite = (ms) => remoteCanWrite(client, ms);
    db = drizzle({ client, schema }) as Database;
  }
  try {
    await applyMigrations(db);
  } catch (error) {
    client.close();
    throw error;
  }
  return {
    kind: local ? "libsql-file" : "libsql-remote",
    db,
    tasks: new LibsqlTaskStore(db, canWrite),
    quotes: new LibsqlQuoteStore(db),
    outbox: new LibsqlOutboxStore(db),
    sales: new LibsqlSalesStore(db),
    schedules: new LibsqlScheduleStore(db),
    upkeep,
    async close() {
      await stopCheckpoints();
      client.close();
    },
  };
}

/**
 * Brings the schema up to date. Idempotent, and safe when several instances
 * start at once: the loser of the race fails on "already exists", waits, and
 * finds the migrations recorded by the winner.
 */
async function applyMigrations(db: Database): Promise<void> {
  const { migrate } = await import("drizzle-orm/libsql/migrator");
  const migrationsFolder = decodeURIComponent(MIGRATIONS_FOLDER.pathname);
  for (let attempt = 1;; attempt++) {
    try {
      await migrate(db, { migrationsFolder });
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
      log.debug("migration attempt {attempt} failed: {error}", { attempt, error: String(error) });
      await new Promise((r) => setTimeout(r, 100 * attempt + Math.random() * 200));
    }
  }
}

/** A remote write probe: a write transaction that does nothing, within `ms`. */
async function remoteCanWrite(client: Client, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      client.batch([{ sql: "SELECT 1", args: [] }], "write").then(() => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * libsql:// means "whatever the server speaks"; Fila's web client speaks HTTP(S)
 * (plain HTTP with `?tls=0`, as @libsql/client reads it).
 */
function toWebUrl(url: string): string {
  if (!url.startsWith("libsql://")) return url;
  const parsed = new URL(`https://${url.slice("libsql://".length)}`);
  if (parsed.searchParams.get("tls") === "0") parsed.protocol = "http:";
  parsed.searchParams.delete("tls");
  return parsed.toString().replace(/\/$/, "");
}

/** The path of a `file:` URL: file:data/fila.db, file:/abs/fila.db, file:///abs/fila.db, file::memory:. */
function filePath(url: string): string {
  const path = url.slice("file:".length).replace(/^\/\/(localhost)?/, "").split("?")[0];
  return path === "" ? ":memory:" : path;
}

async function ensureParentFolder(path: string): Promise<void> {
  if (path === ":memory:") return;
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
}
