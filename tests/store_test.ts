/**
 * The embedded store's own pieces: LocalClient (prepared statements kept, rows
 * and errors shaped as @libsql/client shapes them, batches all or nothing) and
 * the checkpoint connection that keeps the WAL from growing without bound.
 */
import assert from "node:assert/strict";
import { LibsqlError } from "@libsql/core/api";
import { type LibsqlStore, openLibsqlStore, PAGE_SIZE } from "../db/libsql/connect.ts";
import type { LocalClient } from "../db/libsql/local_client.ts";
import { walFrames } from "../db/libsql/wal_file.ts";

async function withStore(
  fn: (store: { client: LocalClient }, dir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "fila-store-" });
  const store: LibsqlStore = await openLibsqlStore(`file:${dir}/store.db`);
  try {
    await fn({ client: store.db.$client as LocalClient }, dir);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("LocalClient: rows by name and index, repeated statements, errors as LibsqlError", async () => {
  await withStore(async ({ client }) => {
    await client.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)");
    for (let i = 0; i < 3; i++) {
      // the same SQL text each time: the cached statement is rebound, not reused stale
      const inserted = await client.execute({
        sql: "INSERT INTO t (name, n) VALUES (?, ?) RETURNING id, name, n",
        args: [`row${i}`, i * 10],
      });
      assert.equal(inserted.rows.length, 1);
      assert.equal(inserted.rows[0].name, `row${i}`);
      assert.equal(inserted.rows[0][2], i * 10);
      assert.equal(inserted.rows[0].length, 3);
      assert.deepEqual(Object.keys(inserted.rows[0]), ["id", "name", "n"]);
    }
    const counted = await client.execute("SELECT count(*) AS c, sum(n) AS s FROM t");
    assert.deepEqual([counted.rows[0].c, counted.rows[0].s], [3, 30]);
    const updated = await client.execute({
      sql: "UPDATE t SET n = n + 1 WHERE n >= ?",
      args: [10],
    });
    assert.equal(updated.rowsAffected, 2);
    await assert.rejects(
      client.execute({ sql: "INSERT INTO t (name, n) VALUES (?, ?)", args: ["row0", 1] }),
      (error: unknown) => error instanceof LibsqlError && error.code === "SQLITE_CONSTRAINT",
    );
    await assert.rejects(
      client.execute({ sql: "INSERT INTO t (name, n) VALUES (?, ?)", args: [undefined!, 1] }),
      TypeError,
    );
  });
});

Deno.test("LocalClient: a batch is all or nothing; a transaction holds the connection until it ends", async () => {
  await withStore(async ({ client }) => {
    await client.execute("CREATE TABLE t (name TEXT PRIMARY KEY)");
    await assert.rejects(
      client.batch([
        { sql: "INSERT INTO t VALUES (?)", args: ["a"] },
        { sql: "INSERT INTO t VALUES (?)", args: ["a"] },
      ], "write"),
      LibsqlError,
    );
    assert.equal((await client.execute("SELECT count(*) AS c FROM t")).rows[0].c, 0);

    const tx = await client.transaction("write");
    await tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["in-tx"] });
    // a call outside the transaction waits for it instead of joining it
    const outside = client.execute("SELECT count(*) AS c FROM t");
    await tx.rollback();
    assert.equal((await outside).rows[0].c, 0);
    assert.equal(tx.closed, true);
  });
});

Deno.test("LocalClient: calls wait, without blocking the event loop, while exclusive work runs", async () => {
  await withStore(async ({ client }) => {
    let release!: () => void;
    const held = client.exclusive(() => new Promise<void>((r) => release = r));
    let answered = false;
    const waiting = client.execute("SELECT 1 AS one").then((rs) => {
      answered = true;
      return rs.rows[0].one;
    });
    // the event loop runs on (this timer fires) while the call waits
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(answered, false);
    release();
    await held;
    assert.equal(await waiting, 1);
  });
});

Deno.test("pages: a new database gets PAGE_SIZE pages; an existing one keeps its own and opens", async () => {
  const pageSize = async (client: { execute(sql: string): Promise<{ rows: object[] }> }) =>
    Number(Object.values((await client.execute("PRAGMA page_size")).rows[0])[0]);
  await withStore(async ({ client }) => {
    assert.equal(PAGE_SIZE, 2048);
    assert.equal(await pageSize(client), PAGE_SIZE);
  });
  // a database made before (SQLite's default 4 KiB pages, already in WAL mode)
  const dir = await Deno.makeTempDir({ prefix: "fila-pages-" });
  const { default: Database } = await import("libsql");
  const old = new Database(`${dir}/old.db`);
  old.exec("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE kept (x)");
  old.close();
  const store = await openLibsqlStore(`file:${dir}/old.db`);
  try {
    assert.equal(await pageSize(store.db.$client), 4096);
    // migrated, and what it held is still there
    assert.equal((await store.db.$client.execute("SELECT count(*) AS c FROM tasks")).rows[0].c, 0);
    assert.equal((await store.db.$client.execute("SELECT count(*) AS c FROM kept")).rows[0].c, 0);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkpoints: the WAL is checkpointed off the event loop and stays bounded under writes", async () => {
  await withStore(async ({ client }, dir) => {
    await client.execute("CREATE TABLE blob (id INTEGER PRIMARY KEY, body TEXT)");
    const body = "x".repeat(6_000); // a few pages a row
    let largestWal = 0;
    // ~12,000 pages written in 3,000 transactions over ~1.5 s: ~48 MB of WAL if
    // nothing checkpointed (the serving connection's automatic checkpoint is off)
    for (let i = 0; i < 3_000; i++) {
      await client.batch([
        { sql: "INSERT INTO blob (body) VALUES (?)", args: [body] },
        { sql: "DELETE FROM blob WHERE id < ?", args: [i - 10] },
      ], "write");
      if (i % 100 === 0) {
        await new Promise((r) => setTimeout(r, 50)); // checkpoints run every 200 ms
        largestWal = Math.max(largestWal, (await Deno.stat(`${dir}/store.db-wal`)).size);
      }
    }
    const mb = largestWal / 1024 / 1024;
    assert.ok(mb < 16, `WAL reached ${mb.toFixed(1)} MB`);
    // and automatic checkpoints are off on the serving connection (the checkpoint connection does them)
    const [row] = (await client.execute("PRAGMA wal_autocheckpoint")).rows;
    assert.equal(Object.values(row)[0], 0);
  });
});

Deno.test("checkpoints: the log's length is read from the WAL file, and starts over after a RESTART", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fila-wal-" });
  // a plain connection: no checkpointer, automatic checkpoints off, so the test decides
  const { default: Database } = await import("libsql");
  const db = new Database(`${dir}/wal.db`);
  try {
    db.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0");
    const pageSize = Number(Object.values(db.prepare("PRAGMA page_size").get() as object)[0]);
    const wal = `${dir}/wal.db-wal`;
    assert.deepEqual(walFrames(`${dir}/none.db-wal`, pageSize), { inFile: 0, inUse: 0 });
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)");
    const insert = db.prepare("INSERT INTO t (body) VALUES (?)");
    for (let i = 0; i < 300; i++) insert.run(["x".repeat(3_000)]); // a page and more a row
    const grown = walFrames(wal, pageSize);
    assert.ok(grown.inUse >= 300, `in use: ${grown.inUse}`);
    assert.equal(grown.inUse, grown.inFile); // never started over: every frame is the log's
    // after a RESTART the next writer starts the log at the file's first frame
    db.exec("PRAGMA wal_checkpoint(RESTART)");
    insert.run(["y"]);
    const restarted = walFrames(wal, pageSize);
    assert.equal(restarted.inFile, grown.inFile); // the file keeps its length
    assert.ok(restarted.inUse >= 1 && restarted.inUse <= 4, `in use: ${restarted.inUse}`);
    for (let i = 0; i < 50; i++) insert.run(["z".repeat(3_000)]);
    const again = walFrames(wal, pageSize);
    assert.ok(
      again.inUse > restarted.inUse + 50 && again.inUse < grown.inUse,
      `in use: ${again.inUse}`,
    );
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
