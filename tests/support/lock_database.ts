/**
 * Holds the write lock of a SQLite file for `ms`, as another process would (a
 * purge, a long write, `BEGIN IMMEDIATE` in a shell):
 * `deno run -A lock_database.ts <file> <ms>`; prints LOCKED once it holds it and
 * RELEASED once it let go, so a test can tell what happened meanwhile.
 */
import Database from "libsql";

const [file, ms] = Deno.args;
const db = new Database(file, { timeout: 5_000 });
db.exec("BEGIN IMMEDIATE");
console.log("LOCKED");
await new Promise((r) => setTimeout(r, Number(ms)));
db.exec("ROLLBACK");
db.close();
console.log("RELEASED");
