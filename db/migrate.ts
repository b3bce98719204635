/**
 * Applies the generated SQL migrations. Idempotent, and safe when several
 * instances start at once: the loser of the race fails on "already exists",
 * waits, and finds the migrations recorded by the winner.
 */
import { migrate } from "drizzle-orm/libsql/migrator";
import { fileURLToPath } from "node:url";
import type { Database } from "./client.ts";

const MIGRATIONS_FOLDER = fileURLToPath(new URL("./migrations", import.meta.url));

/** Brings the schema up to date, retrying a few times if another instance is migrating too. */
export async function applyMigrations(db: Database): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 100 * attempt + Math.random() * 200));
    }
  }
}

if (import.meta.main) {
  const { loadConfig } = await import("../config.ts");
  const { openStore } = await import("./client.ts");
  const config = loadConfig();
  const store = await openStore(config.DATABASE_URL, config.DATABASE_AUTH_TOKEN);
  await applyMigrations(store.db);
  await store.close();
  console.log(`migrations applied to ${config.DATABASE_URL}`);
}
