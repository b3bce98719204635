import { defineConfig } from "drizzle-kit";

/** drizzle-kit for the PostgreSQL store: `deno task db:generate:postgres` (run from the project root). */
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/postgres/schema.ts",
  out: "./db/postgres/migrations",
});
