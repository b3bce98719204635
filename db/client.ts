/**
 * Opens the libSQL store: an embedded file by default, or a remote libsql:// /
 * http(s):// server (Turso, sqld). File databases get WAL, a busy timeout and
 * synchronous=NORMAL, so several processes can share one file safely.
 */
import { type Client, createClient } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import * as schema from "./schema.ts";

export type Database = LibSQLDatabase<typeof schema>;

export interface Store {
  client: Client;
  db: Database;
  /** true for an embedded `file:` database. */
  local: boolean;
  close(): void;
}

/** How long a write waits for another process's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 10_000;

/** Opens the database at `url`, creating the parent folder of a file database. */
export async function openStore(url: string, authToken?: string): Promise<Store> {
  const local = url.startsWith("file:");
  if (local) await ensureParentFolder(url);
  const client = createClient({
    url,
    authToken,
    timeout: BUSY_TIMEOUT_MS,
    // libsql's native calls are synchronous; one connection is enough and keeps
    // the per-connection pragmas below in force.
    concurrency: local ? 1 : undefined,
  });
  if (local) {
    await client.execute("PRAGMA journal_mode = WAL");
    await client.execute("PRAGMA synchronous = NORMAL");
  }
  const db = drizzle(client, { schema });
  return { client, db, local, close: () => client.close() };
}

async function ensureParentFolder(url: string): Promise<void> {
  const path = url.slice("file:".length).replace(/^\/\/(localhost)?/, "").split("?")[0];
  if (path === ":memory:" || path === "") return;
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
}
