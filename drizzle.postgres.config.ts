/**
 * drizzle-kit's configuration for the PostgreSQL schema (`deno task db:generate:postgres`).
 * A plain object: drizzle-kit is a dev tool, kept out of deno.json's imports.
 */
export default {
  dialect: "postgresql",
  schema: "./db/postgres/schema.ts",
  out: "./db/postgres/migrations",
};
