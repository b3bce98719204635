import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./db/libsql/schema.ts",
  out: "./db/libsql/migrations",
});
