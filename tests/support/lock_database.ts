/**
 * Holds an exclusive lock on a SQLite file for `ms`, as another process would:
 * `deno run -A lock_database.ts <file> <ms>`; prints LOCKED once it holds it.
 */
import { createClient } from "@libsql/client";

const [file, ms] = Deno.args;
const client = createClient({ url: `file:${file}` });
const tx = await client.transaction("write");
await tx.execute("INSERT INTO task_events (task_id, at, status) VALUES ('lock', 0, 'lock')");
console.log("LOCKED");
await new Promise((r) => setTimeout(r, Number(ms)));
await tx.rollback();
client.close();
