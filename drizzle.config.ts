/**
 * drizzle-kit's configuration for the libSQL schema (`deno task db:generate`).
 * A plain object: drizzle-kit is a dev tool, kept out of deno.json's imports.
 */
export default {
  dialect: "sqlite",
  schema: "./db/libsql/schema.ts",
  out: "./db/libsql/migrations",
};
