/**
 * Opens the libSQL store: an embedded file by default, or a remote libsql:// /
 * http(s):// server (Turso, sqld). File databases get WAL, a busy timeout and
 * synchronous=NORMAL, so several processes can share one file safely, and go
 * through LocalClient, which keeps its prepared statements.
 */
import type { Client } from "@libsql/client";
// the sqlite3 entry: drizzle's default libsql entry imports all of @libsql/client
import { drizzle } from "drizzle-orm/libsql/sqlite3";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import { LocalClient } from "./local_client.ts";
import { Checkpointer } from "./checkpointer.ts";
import * as schema from "./schema.ts";

export type Database = LibSQLDatabase<typeof schema> & { $client: Client };

export interface Store {
  client: Client;
  db: Database;
  /** true for an embedded `file:` database. */
  local: boolean;
  /** WAL checkpoints off the event loop (a file database with a checkpoint connection). */
  checkpointer: Checkpointer | null;
  close(): Promise<void>;
}

/** How long a write waits for another process's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 10_000;

/** Opens the database at `url`, creating the parent folder of a file database. */
export async function openStore(url: string, authToken?: string): Promise<Store> {
  const local = url.startsWith("file:");
  let client: Client;
  let checkpointer: Checkpointer | null = null;
  if (local) {
    const path = filePath(url);
    await ensureParentFolder(path);
    // libsql's native calls are synchronous; one connection is enough and keeps
    // the per-connection pragmas below in force.
    const localClient = new LocalClient(path, { timeout: BUSY_TIMEOUT_MS });
    client = localClient;
    await client.execute("PRAGMA journal_mode = WAL");
    await client.execute("PRAGMA synchronous = NORMAL");
    if (path !== ":memory:") checkpointer = await Checkpointer.start(path, localClient);
  } else {
    // loaded only for a remote store (see LocalClient on why)
    const { createClient } = await import("@libsql/client");
    client = createClient({ url, authToken, timeout: BUSY_TIMEOUT_MS });
  }
  const db = drizzle({ client, schema });
  const close = async () => {
    await checkpointer?.stop();
    client.close();
  };
  return { client, db, local, checkpointer, close };
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
