/**
 * `deno task migrate`: brings the configured database (DATABASE_URL) up to date
 * without starting Fila. Instances do the same at start-up.
 */
import { loadConfig } from "../config.ts";
import { openStore } from "./open_store.ts";

const config = loadConfig();
const store = await openStore(config.DATABASE_URL, { authToken: config.DATABASE_AUTH_TOKEN });
await store.close();
console.log(`migrations applied to ${config.DATABASE_URL}`);
