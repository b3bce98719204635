/**
 * The Hrana-over-HTTP stand-in (tests/support/hrana_server.ts) driven by the real
 * `@libsql/client/web` client and by drizzle's libsql web driver, as Fila talks to Turso or
 * sqld; plus the wire protocol itself (batons, versions, conditions) by plain fetch, and a
 * child process under Deno Deploy's limits (no FFI, no writes, no subprocesses).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type Client, createClient, LibsqlError } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql/web";
import { drizzle as drizzleLocal } from "drizzle-orm/libsql/sqlite3";
import { migrate } from "drizzle-orm/libsql/migrator";
import { eq, sql } from "drizzle-orm";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import {
  type HranaServer,
  type HranaServerOptions,
  startHranaServer,
} from "./support/hrana_server.ts";
import { LocalClient } from "../db/libsql/local_client.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const MIGRATIONS = fileURLToPath(new URL("../db/libsql/migrations", import.meta.url));

interface Fixture {
  server: HranaServer;
  dir: string;
  client(options?: { authToken?: string; intMode?: "number" | "bigint" }): Client;
}

/** A fresh database file behind a fresh server; clients opened through `client()` are closed after. */
async function withServer(
  fn: (fixture: Fixture) => Promise<void>,
  options: Omit<HranaServerOptions, "path"> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fila-hrana-" });
  const server = await startHranaServer({ path: `${dir}/remote.db`, ...options });
  const clients: Client[] = [];
  try {
    await fn({
      server,
      dir,
      client: (clientOptions = {}) => {
        const client = createClient({
          url: server.url,
          authToken: clientOptions.authToken ?? options.authToken,
          intMode: clientOptions.intMode,
        });
        clients.push(client);
        return client;
      },
    });
  } finally {
    for (const client of clients) client.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Waits (bounded) until `check` holds: for states the server reaches on its own. */
async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
}

function libsqlCode(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof LibsqlError, `expected a LibsqlError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

Deno.test("hrana stand-in: execute with positional and named args, RETURNING, counts", async () => {
  await withServer(async ({ client }) => {
    const db = client();
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)");
    const inserted = await db.execute({
      sql: "INSERT INTO t (name, n) VALUES (?, ?) RETURNING id, name, n",
      args: ["a", 1],
    });
    assert.deepEqual(inserted.columns, ["id", "name", "n"]);
    assert.deepEqual(inserted.columnTypes, ["INTEGER", "TEXT", "INTEGER"]);
    assert.deepEqual({ ...inserted.rows[0] }, { id: 1, name: "a", n: 1 });
    assert.equal(inserted.rowsAffected, 1);
    assert.equal(inserted.lastInsertRowid, 1n);

    // named arguments, with and without their sign, and each sign SQLite knows
    await db.execute({
      sql: "INSERT INTO t (name, n) VALUES (:name, $n)",
      args: { name: "b", n: 2 },
    });
    await db.execute({
      sql: "INSERT INTO t (name, n) VALUES (@name, @n)",
      args: { "@name": "c", n: 3 },
    });
    const named = await db.execute({
      sql: "SELECT name FROM t WHERE n >= :low AND n <= :low + 1 ORDER BY n",
      args: { low: 2 },
    });
    assert.deepEqual(named.rows.map((r) => r.name), ["b", "c"]);
    assert.equal(named.rowsAffected, 0, "a SELECT affects no rows");
    assert.equal(named.lastInsertRowid, undefined, "only an INSERT reports a rowid");

    const nulls = await db.execute({
      sql: "SELECT :v IS NULL AS v, $w IS NULL AS w",
      args: { ":v": null, w: null },
    });
    assert.deepEqual({ ...nulls.rows[0] }, { v: 1, w: 1 });

    const numbered = await db.execute({
      sql: "SELECT ?2 AS second, ?1 AS first",
      args: ["x", "y"],
    });
    assert.deepEqual({ ...numbered.rows[0] }, { second: "y", first: "x" });

    const updated = await db.execute({ sql: "UPDATE t SET n = n * 10 WHERE n > ?", args: [1] });
    assert.equal(updated.rowsAffected, 2);
    const deleted = await db.execute({
      sql: "DELETE FROM t WHERE name = ? RETURNING n",
      args: ["c"],
    });
    assert.deepEqual(deleted.rows.map((r) => r.n), [30]);
    assert.equal(deleted.rowsAffected, 1);
  });
});

Deno.test("hrana stand-in: integer, float, text, blob and null keep their SQLite types", async () => {
  await withServer(async ({ client }) => {
    const db = client({ intMode: "bigint" });
    await db.execute("CREATE TABLE v (x)"); // no affinity: what is bound is what is stored
    const blob = new Uint8Array([0, 1, 127, 128, 255]);
    const values = [
      9223372036854775807n,
      -9223372036854775808n,
      1.5,
      2.0,
      "héllo ✓",
      "",
      blob,
      null,
    ];
    for (const value of values) {
      await db.execute({ sql: "INSERT INTO v (x) VALUES (?)", args: [value] });
    }
    const result = await db.execute("SELECT x, typeof(x) AS type FROM v ORDER BY rowid");
    assert.deepEqual(result.rows.map((r) => r.type), [
      "integer",
      "integer",
      "real",
      "real", // a JS number is sent as a float, and stays one where no affinity converts it
      "text",
      "text",
      "blob",
      "null",
    ]);
    const got = result.rows.map((r) => r.x);
    assert.deepEqual(got.slice(0, 6), values.slice(0, 6));
    assert.ok(got[6] instanceof ArrayBuffer);
    assert.deepEqual(new Uint8Array(got[6] as ArrayBuffer), blob);
    assert.equal(got[7], null);

    // booleans and Dates as the client encodes them (integers), read back in "number" mode
    const numbers = client();
    const encoded = await numbers.execute({
      sql: "SELECT ? AS yes, typeof(?) AS t, ? AS at",
      args: [true, true, new Date(86_400_000)],
    });
    assert.deepEqual({ ...encoded.rows[0] }, { yes: 1, t: "integer", at: 86_400_000 });
  });
});

Deno.test("hrana stand-in: a write batch is all or nothing; repeated SQL goes through store_sql", async () => {
  await withServer(async ({ client }) => {
    const db = client();
    await db.execute("CREATE TABLE t (name TEXT PRIMARY KEY)");
    await assert.rejects(
      db.batch([
        { sql: "INSERT INTO t VALUES (?)", args: ["a"] },
        { sql: "INSERT INTO t VALUES (?)", args: ["b"] },
        { sql: "INSERT INTO t VALUES (?)", args: ["a"] },
      ], "write"),
      libsqlCode("SQLITE_CONSTRAINT"),
    );
    assert.equal((await db.execute("SELECT count(*) AS c FROM t")).rows[0].c, 0);

    const results = await db.batch([
      { sql: "INSERT INTO t VALUES (?)", args: ["a"] },
      { sql: "INSERT INTO t VALUES (?)", args: ["b"] },
      "SELECT name FROM t ORDER BY name",
    ], "write");
    assert.equal(results.length, 3);
    assert.equal(results[1].rowsAffected, 1);
    assert.deepEqual(results[2].rows.map((r) => r.name), ["a", "b"]);
  });
});

Deno.test("hrana stand-in: an interactive transaction keeps its connection across requests", async () => {
  await withServer(async ({ client }) => {
    const db = client();
    const other = client();
    await db.execute("CREATE TABLE t (name TEXT PRIMARY KEY)");

    const tx = await db.transaction("write");
    await tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["a"] });
    await tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["b"] });
    const inside = await tx.execute("SELECT count(*) AS c FROM t");
    assert.equal(inside.rows[0].c, 2, "the transaction sees its own writes");
    const outside = await other.execute("SELECT count(*) AS c FROM t");
    assert.equal(outside.rows[0].c, 0, "no one else sees them before COMMIT");
    await tx.commit();
    assert.equal(tx.closed, true);
    assert.equal((await other.execute("SELECT count(*) AS c FROM t")).rows[0].c, 2);

    const undone = await db.transaction("write");
    await undone.batch([
      { sql: "INSERT INTO t VALUES (?)", args: ["c"] },
      { sql: "DELETE FROM t WHERE name = ?", args: ["a"] },
    ]);
    await undone.rollback();
    const names = await db.execute("SELECT name FROM t ORDER BY name");
    assert.deepEqual(names.rows.map((r) => r.name), ["a", "b"]);
  });
});

Deno.test("hrana stand-in: executeMultiple runs a script, triggers included, and stops at an error", async () => {
  await withServer(async ({ client }) => {
    const db = client();
    await db.executeMultiple(`
      -- a comment; with a semicolon
      CREATE TABLE t (n INTEGER, label TEXT);
      CREATE TABLE log (msg TEXT);
      /* the trigger's body has semicolons of its own, and a CASE ... END */
      CREATE TRIGGER t_log AFTER INSERT ON t BEGIN
        INSERT INTO log VALUES (CASE WHEN NEW.n > 1 THEN 'big;' ELSE 'small' END);
        INSERT INTO log VALUES ('second');
      END;
      INSERT INTO t VALUES (1, 'semi;colon'), (2, 'it''s');
    `);
    const log = await db.execute("SELECT msg FROM log ORDER BY rowid");
    assert.deepEqual(log.rows.map((r) => r.msg), ["small", "second", "big;", "second"]);
    const labels = await db.execute("SELECT label FROM t ORDER BY n");
    assert.deepEqual(labels.rows.map((r) => r.label), ["semi;colon", "it's"]);

    await assert.rejects(
      db.executeMultiple(
        "INSERT INTO log VALUES ('x'); INSERT INTO nope VALUES (1); INSERT INTO log VALUES ('y');",
      ),
      libsqlCode("SQLITE_ERROR"),
    );
    const after = await db.execute("SELECT count(*) AS c FROM log WHERE msg IN ('x', 'y')");
    assert.equal(after.rows[0].c, 1, "statements before the failure ran, those after did not");
  });
});

Deno.test("hrana stand-in: migrate runs all statements or none, with foreign keys off", async () => {
  await withServer(async ({ client }) => {
    const db = client();
    await db.execute("PRAGMA foreign_keys = ON");
    await assert.rejects(
      db.migrate([
        { sql: "CREATE TABLE a (id INTEGER PRIMARY KEY)", args: [] },
        { sql: "CREATE TABLE a (id INTEGER PRIMARY KEY)", args: [] },
      ]),
      libsqlCode("SQLITE_ERROR"),
    );
    const none = await db.execute("SELECT count(*) AS c FROM sqlite_master WHERE name = 'a'");
    assert.equal(none.rows[0].c, 0);
    await db.migrate([
      { sql: "CREATE TABLE a (id INTEGER PRIMARY KEY)", args: [] },
      { sql: "CREATE TABLE b (a_id INTEGER REFERENCES a(id))", args: [] },
      // a dangling reference passes: migrate turns foreign keys off for its batch
      { sql: "INSERT INTO b VALUES (42)", args: [] },
    ]);
    assert.equal((await db.execute("SELECT a_id FROM b")).rows[0].a_id, 42);
  });
});

Deno.test("hrana stand-in: errors carry sqld's codes", async () => {
  await withServer(async ({ client }) => {
    const db = client();
    await db.execute("CREATE TABLE t (name TEXT PRIMARY KEY, n INTEGER NOT NULL)");
    await db.execute({ sql: "INSERT INTO t VALUES (?, ?)", args: ["a", 1] });
    await assert.rejects(
      db.execute({ sql: "INSERT INTO t VALUES (?, ?)", args: ["a", 2] }),
      libsqlCode("SQLITE_CONSTRAINT"),
    );
    await assert.rejects(
      db.execute({ sql: "INSERT INTO t VALUES (?, ?)", args: ["b", null] }),
      libsqlCode("SQLITE_CONSTRAINT"),
    );
    await assert.rejects(db.execute("SELEC 1"), libsqlCode("SQLITE_ERROR"));
    await assert.rejects(db.execute("SELECT * FROM missing"), libsqlCode("SQLITE_ERROR"));
    await assert.rejects(db.execute("SELECT 1; SELECT 2"), libsqlCode("SQL_MANY_STATEMENTS"));
    await assert.rejects(db.execute("-- nothing"), libsqlCode("SQL_NO_STATEMENT"));
    await assert.rejects(
      db.execute({ sql: "SELECT ?, ?", args: [1] }),
      libsqlCode("ARGS_INVALID"),
    );
    await assert.rejects(
      db.execute({ sql: "SELECT ?", args: [1, 2] }),
      libsqlCode("ARGS_INVALID"),
    );
    await assert.rejects(
      db.execute({ sql: "SELECT :a", args: { b: 1 } }),
      libsqlCode("ARGS_INVALID"),
    );
    // nothing above broke the server or the client
    assert.equal((await db.execute("SELECT count(*) AS c FROM t")).rows[0].c, 1);
  });
});

Deno.test("hrana stand-in: the auth token is checked as Turso checks it", async () => {
  await withServer(async ({ client }) => {
    const good = client();
    await good.execute("CREATE TABLE t (x)");
    const refused = (error: unknown) => {
      assert.ok(error instanceof LibsqlError);
      assert.equal(error.code, "SERVER_ERROR");
      assert.match(error.message, /401/);
      return true;
    };
    await assert.rejects(client({ authToken: "wrong" }).execute("SELECT 1"), refused);
    await assert.rejects(client({ authToken: "" }).batch(["INSERT INTO t VALUES (1)"]), refused);
    assert.equal((await good.execute("SELECT count(*) AS c FROM t")).rows[0].c, 0);
  }, { authToken: "s3cret-token" });
});

Deno.test("hrana stand-in: two clients write at once; a lock wait does not stall other streams", async () => {
  await withServer(async ({ client, server }) => {
    const first = client();
    const second = client();
    await first.execute("CREATE TABLE t (who TEXT, i INTEGER)");
    const writes = [];
    for (let i = 0; i < 40; i++) {
      writes.push(first.execute({ sql: "INSERT INTO t VALUES (?, ?)", args: ["first", i] }));
      writes.push(
        second.batch([
          { sql: "INSERT INTO t VALUES (?, ?)", args: ["second", i] },
          { sql: "UPDATE t SET i = i WHERE who = ?", args: ["second"] },
        ], "write"),
      );
    }
    await Promise.all(writes);
    const counts = await first.execute(
      "SELECT who, count(*) AS c FROM t GROUP BY who ORDER BY who",
    );
    assert.deepEqual(counts.rows.map((r) => [r.who, r.c]), [["first", 40], ["second", 40]]);

    // the second writer waits for the first one's transaction; the first one's COMMIT, a
    // request on another stream, must still be served while it waits
    const tx = await first.transaction("write");
    await tx.execute({ sql: "INSERT INTO t VALUES (?, ?)", args: ["tx", 1] });
    const waiting = second.execute({ sql: "INSERT INTO t VALUES (?, ?)", args: ["after", 1] });
    await until("the second writer waits on the lock", () => server.stats().waitingOnLock > 0);
    await tx.commit();
    await waiting;
    const last = await second.execute(
      "SELECT who FROM t WHERE who IN ('tx', 'after') ORDER BY rowid",
    );
    assert.deepEqual(last.rows.map((r) => r.who), ["tx", "after"]);
  });
});

Deno.test("hrana stand-in: a lock held past the busy timeout gives SQLITE_BUSY", async () => {
  await withServer(async ({ client }) => {
    const holder = client();
    const blocked = client();
    await holder.execute("CREATE TABLE t (x)");
    const tx = await holder.transaction("write");
    await tx.execute("INSERT INTO t VALUES (1)");
    await assert.rejects(blocked.execute("INSERT INTO t VALUES (2)"), libsqlCode("SQLITE_BUSY"));
    await tx.commit();
    await blocked.execute("INSERT INTO t VALUES (2)");
    assert.equal((await blocked.execute("SELECT count(*) AS c FROM t")).rows[0].c, 2);
  }, { busyTimeoutMs: 100 });
});

Deno.test("hrana stand-in: an idle stream expires, its transaction rolls back, its baton says so", async () => {
  await withServer(async ({ client, server }) => {
    const db = client();
    await db.execute("CREATE TABLE t (x)");
    const tx = await db.transaction("write");
    await tx.execute("INSERT INTO t VALUES (1)");
    assert.equal(server.stats().openStreams, 1);
    await until("the idle stream is closed", () => server.stats().openStreams === 0);
    await assert.rejects(tx.execute("INSERT INTO t VALUES (2)"), libsqlCode("STREAM_EXPIRED"));
    // the write lock went with the stream
    await client().execute("INSERT INTO t VALUES (3)");
    const rows = await db.execute("SELECT x FROM t");
    assert.deepEqual(rows.rows.map((r) => r.x), [3]);
  }, { streamIdleMs: 50, busyTimeoutMs: 100 });
});

Deno.test("hrana stand-in: a transaction whose snapshot went stale fails busy, rolls back, and frees the lock", async () => {
  await withServer(async ({ client }) => {
    const db = client();
    const other = client();
    await db.execute("CREATE TABLE t (x)");
    const tx = await db.transaction("deferred");
    await tx.execute("SELECT count(*) FROM t"); // the transaction now reads a snapshot
    await other.execute("INSERT INTO t VALUES (1)"); // which this commit makes stale
    await assert.rejects(tx.execute("INSERT INTO t VALUES (2)"), libsqlCode("SQLITE_BUSY"));
    await tx.rollback();
    await db.execute("INSERT INTO t VALUES (3)");
    await other.execute("INSERT INTO t VALUES (4)");
    const rows = await other.execute("SELECT x FROM t ORDER BY x");
    assert.deepEqual(rows.rows.map((r) => r.x), [1, 3, 4]);
  });
});

// ---------------------------------------------------------------------------------------------
// The wire protocol by hand: what the client library does not exercise

async function pipeline(
  server: HranaServer,
  body: unknown,
  version = 2,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; json?: any; text?: string }> {
  const response = await fetch(`${server.url}/v${version}/pipeline`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.headers.get("content-type") === "application/json") {
    return { status: response.status, json: await response.json() };
  }
  return { status: response.status, text: await response.text() };
}

const stmt = (sql: string) => ({ type: "execute", stmt: { sql } });

Deno.test("hrana stand-in: batons are single-use; unknown and closed streams are refused", async () => {
  await withServer(async ({ server }) => {
    const opened = await pipeline(server, { baton: null, requests: [stmt("CREATE TABLE t (x)")] });
    assert.equal(opened.status, 200);
    const first = opened.json.baton;
    assert.equal(typeof first, "string");
    assert.equal(opened.json.base_url, null);

    const next = await pipeline(server, { baton: first, requests: [stmt("SELECT 1")] });
    assert.equal(next.status, 200);
    assert.notEqual(next.json.baton, first);
    assert.equal((await pipeline(server, { baton: first, requests: [] })).status, 400);
    assert.equal((await pipeline(server, { baton: "forged", requests: [] })).status, 400);

    const closed = await pipeline(server, {
      baton: next.json.baton,
      requests: [{ type: "close" }],
    });
    assert.deepEqual(closed.json, {
      baton: null,
      base_url: null,
      results: [{ type: "ok", response: { type: "close" } }],
    });
    assert.equal((await pipeline(server, { baton: next.json.baton, requests: [] })).status, 400);
    // a request after `close` in the same pipeline violates the protocol
    const late = await pipeline(server, { requests: [{ type: "close" }, stmt("SELECT 1")] });
    assert.equal(late.status, 400);
    assert.equal(server.stats().openStreams, 0);
  });
});

Deno.test("hrana stand-in: a stream that gave up on a lock still commits its later writes", async () => {
  await withServer(async ({ server, client }) => {
    await client().execute("CREATE TABLE t (x TEXT)");
    const holder = await pipeline(server, {
      requests: [stmt("BEGIN IMMEDIATE"), stmt("INSERT INTO t VALUES ('held')")],
    });
    const waiter = await pipeline(server, { requests: [stmt("INSERT INTO t VALUES ('gave up')")] });
    assert.equal(waiter.json.results[0].error.code, "SQLITE_BUSY");
    const committed = await pipeline(server, {
      baton: holder.json.baton,
      requests: [stmt("COMMIT"), { type: "close" }],
    });
    assert.equal(committed.json.results[0].type, "ok");
    // the same stream, whose abandoned statement would otherwise hold every later write back
    const later = await pipeline(server, {
      baton: waiter.json.baton,
      requests: [stmt("INSERT INTO t VALUES ('later')"), { type: "close" }],
    });
    assert.equal(later.json.results[0].type, "ok");
    const rows = await client().execute("SELECT x FROM t ORDER BY rowid");
    assert.deepEqual(rows.rows.map((r) => r.x), ["held", "later"]);
    await client().execute("INSERT INTO t VALUES ('lock is free')");
  }, { busyTimeoutMs: 50 });
});

Deno.test("hrana stand-in: versions, get_autocommit and batch conditions", async () => {
  await withServer(async ({ server }) => {
    for (const [path, status] of [["v2", 200], ["v3", 200], ["v3-protobuf", 404]] as const) {
      const response = await fetch(`${server.url}/${path}`);
      await response.body?.cancel();
      assert.equal(response.status, status, path);
    }
    // get_autocommit is Hrana 3
    assert.equal(
      (await pipeline(server, { requests: [{ type: "get_autocommit" }] }, 2)).status,
      400,
    );
    const v3 = await pipeline(server, {
      requests: [
        { type: "get_autocommit" },
        stmt("BEGIN"),
        { type: "get_autocommit" },
        stmt("ROLLBACK"),
        { type: "close" },
      ],
    }, 3);
    assert.deepEqual(
      v3.json.results.filter((_: unknown, i: number) => i === 0 || i === 2)
        .map((r: { response: { is_autocommit: boolean } }) => r.response.is_autocommit),
      [true, false],
    );

    const ok = (step: number) => ({ type: "ok", step });
    const error = (step: number) => ({ type: "error", step });
    const batch = await pipeline(server, {
      requests: [{
        type: "batch",
        batch: {
          steps: [
            { stmt: { sql: "BEGIN" } },
            { stmt: { sql: "SELECT * FROM missing" }, condition: ok(0) },
            { stmt: { sql: "SELECT 'skipped'" }, condition: ok(1) },
            { stmt: { sql: "SELECT 'on error'" }, condition: error(1) },
            {
              stmt: { sql: "SELECT 'and/or/not'" },
              condition: {
                type: "and",
                conds: [ok(0), { type: "or", conds: [ok(2), { type: "not", cond: ok(2) }] }],
              },
            },
            {
              stmt: { sql: "SELECT 'in transaction'" },
              condition: { type: "not", cond: { type: "is_autocommit" } },
            },
            { stmt: { sql: "ROLLBACK" } },
          ],
        },
      }, { type: "close" }],
    }, 3);
    const result = batch.json.results[0].response.result;
    assert.deepEqual(
      result.step_results.map((r: { rows: unknown[][] } | null) => r && r.rows),
      [
        [],
        null,
        null,
        [[{ type: "text", value: "on error" }]],
        [[{ type: "text", value: "and/or/not" }]],
        [[{ type: "text", value: "in transaction" }]],
        [],
      ],
    );
    assert.deepEqual(
      result.step_errors.map((e: { code: string } | null) => e && e.code),
      [null, "SQLITE_ERROR", null, null, null, null, null],
    );
    // a condition on a step that has not run yet is a protocol error
    const forward = await pipeline(server, {
      requests: [{
        type: "batch",
        batch: { steps: [{ stmt: { sql: "SELECT 1" }, condition: ok(0) }] },
      }],
    });
    assert.equal(forward.status, 400);
  });
});

Deno.test("hrana stand-in: store_sql, close_sql, sequence and describe by hand", async () => {
  await withServer(async ({ server }) => {
    const response = await pipeline(server, {
      requests: [
        { type: "store_sql", sql_id: 1, sql: "SELECT :a AS a, ? AS b, name FROM sqlite_master" },
        { type: "describe", sql_id: 1 },
        { type: "sequence", sql: "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)" },
        {
          type: "execute",
          stmt: { sql: "SELECT x FROM t", want_rows: false },
        },
        { type: "close_sql", sql_id: 1 },
        { type: "close" },
      ],
    });
    const [stored, described, sequence, unwanted, closedSql] = response.json.results;
    assert.equal(stored.type, "ok");
    assert.deepEqual(described.response.result, {
      params: [{ name: ":a" }, { name: null }],
      cols: [{ name: "a", decltype: null }, { name: "b", decltype: null }, {
        name: "name",
        decltype: "TEXT",
      }],
      is_explain: false,
      is_readonly: true,
    });
    assert.deepEqual(sequence.response, { type: "sequence" });
    assert.deepEqual(unwanted.response.result.rows, [], "want_rows: false sends no rows");
    assert.deepEqual(closedSql.response, { type: "close_sql" });

    const unknownSql = await pipeline(server, {
      requests: [{ type: "execute", stmt: { sql_id: 9 } }],
    });
    assert.equal(unknownSql.status, 400);
  });
});

// ---------------------------------------------------------------------------------------------
// drizzle over the stand-in

const notes = sqliteTable("notes", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  title: text("title").notNull().unique(),
  done: integer("done", { mode: "boolean" }).notNull().default(false),
});

Deno.test("hrana stand-in: drizzle's web driver inserts, selects and updates with RETURNING", async () => {
  await withServer(async ({ client }) => {
    const db = drizzle({ client: client() });
    await db.run(sql`CREATE TABLE notes (
      id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL UNIQUE, done INTEGER NOT NULL DEFAULT 0
    )`);
    const inserted = await db.insert(notes).values([{ title: "one" }, { title: "two" }])
      .returning();
    assert.deepEqual(inserted, [
      { id: 1, title: "one", done: false },
      { id: 2, title: "two", done: false },
    ]);
    const updated = await db.update(notes).set({ done: true }).where(eq(notes.title, "two"))
      .returning({ id: notes.id, done: notes.done });
    assert.deepEqual(updated, [{ id: 2, done: true }]);
    assert.deepEqual(await db.select().from(notes).where(eq(notes.done, true)), [
      { id: 2, title: "two", done: true },
    ]);
    await assert.rejects(
      db.insert(notes).values({ title: "one" }),
      (error: unknown) => {
        const cause = (error as { cause?: unknown }).cause ?? error;
        return cause instanceof LibsqlError && cause.code === "SQLITE_CONSTRAINT";
      },
    );
    const inTx = await db.transaction(async (tx) => {
      await tx.insert(notes).values({ title: "three" });
      return await tx.select({ n: sql<number>`count(*)` }).from(notes);
    });
    assert.deepEqual(inTx, [{ n: 3 }]);
  });
});

async function schemaOf(client: Pick<Client, "execute">) {
  const result = await client.execute(
    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
  );
  return result.rows.map((r) => ({ ...r }));
}

Deno.test("hrana stand-in: drizzle's migrator applies db/libsql/migrations as it does to a local file", async () => {
  await withServer(async ({ client, dir }) => {
    const remote = client();
    const db = drizzle({ client: remote });
    await migrate(db, { migrationsFolder: MIGRATIONS });
    await migrate(db, { migrationsFolder: MIGRATIONS }); // a second run finds nothing to do
    const journal = JSON.parse(await Deno.readTextFile(`${MIGRATIONS}/meta/_journal.json`));
    const applied = await remote.execute("SELECT count(*) AS c FROM __drizzle_migrations");
    assert.equal(applied.rows[0].c, journal.entries.length);

    const local = new LocalClient(`${dir}/local.db`);
    try {
      await migrate(drizzleLocal({ client: local }), { migrationsFolder: MIGRATIONS });
      const expected = await schemaOf(local);
      assert.ok(expected.some((o) => o.type === "trigger"), "the migrations create triggers");
      assert.deepEqual(await schemaOf(remote), expected);
    } finally {
      local.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Deno Deploy's limits: no FFI, no writes, no subprocesses

const DEPLOY_FLAGS = ["--deny-ffi", "--deny-write", "--deny-run", "--allow-net=127.0.0.1"];

/** Runs `script` (a module read from stdin) in a child Deno with Deploy's limits. */
async function runLimited(script: string, flags: string[], args: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--config",
      `${REPO}/deno.json`,
      ...DEPLOY_FLAGS,
      ...flags,
      "-",
      ...args,
    ],
    cwd: REPO,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

const WEB_ONLY_SCRIPT = `
import { createClient } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql/web";
import { migrate } from "drizzle-orm/libsql/migrator";
import { sql } from "drizzle-orm";
const ffi = Deno.permissions.querySync({ name: "ffi" }).state;
const client = createClient({ url: Deno.args[0], authToken: "deploy-token" });
const db = drizzle({ client });
await migrate(db, { migrationsFolder: "db/libsql/migrations" });
await db.run(sql\`CREATE TABLE IF NOT EXISTS deploy_probe (note TEXT)\`);
await db.run(sql\`INSERT INTO deploy_probe VALUES (\${"from a Deploy-limited process"})\`);
const rows = await db.all(sql\`SELECT count(*) AS n FROM __drizzle_migrations\`);
client.close();
console.log(JSON.stringify({ ffi, migrations: rows[0].n }));
`;

Deno.test("hrana stand-in: a process with only the web client runs under Deploy's limits", async () => {
  await withServer(async ({ server, client }) => {
    const run = await runLimited(WEB_ONLY_SCRIPT, [`--allow-read=${MIGRATIONS}`], [server.url]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout.trim());
    const journal = JSON.parse(await Deno.readTextFile(`${MIGRATIONS}/meta/_journal.json`));
    assert.deepEqual(report, { ffi: "denied", migrations: journal.entries.length });
    const probe = await client({ authToken: "deploy-token" }).execute(
      "SELECT note FROM deploy_probe",
    );
    assert.deepEqual(probe.rows.map((r) => r.note), ["from a Deploy-limited process"]);

    // the control: the same limits do stop the native driver, so the run above proves something
    const native = await runLimited(
      `import Database from "libsql"; new Database(":memory:"); console.log("loaded");`,
      ["--allow-env", "--allow-sys", "--allow-read"],
    );
    assert.notEqual(native.code, 0);
    assert.match(native.stderr, /ffi/i);
  }, { authToken: "deploy-token" });
});
