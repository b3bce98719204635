/**
 * Issue #20: an instance's memory grew ~0.25 MiB per 1,000 tasks and never came
 * back. The JS heap was flat; the growth was native: every call that read rows
 * through libsql's iterator (`all()` / `iterate()`) creates a native handle, and
 * Deno's N-API never frees a ~50-byte part of it. These tests hold the fix: no
 * read, claim or task write goes through that iterator, and a process that runs
 * many of them keeps its native heap where it was.
 */
import assert from "node:assert/strict";
import Database from "libsql";
import AsyncDatabase from "libsql/promise";
import { openLibsqlStore } from "../db/libsql/connect.ts";
import type { NewTask } from "../tasks/engine/store.ts";
import { type Json, readTaskEvents, startTestFila } from "./support/harness.ts";

/** Counts, by SQL, the calls of libsql's row iterator (sync and promise APIs) while `fn` runs. */
async function iteratorCalls(fn: () => Promise<void>): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  const sqlOf = new WeakMap<object, string>();
  const probe = new Database(":memory:");
  const asyncProbe = new AsyncDatabase(":memory:", {});
  const restore: (() => void)[] = [];
  type Method = (this: unknown, ...args: unknown[]) => unknown;
  const patch = (target: Record<string, Method>, name: string, wrap: (f: Method) => Method) => {
    const original = target[name];
    target[name] = wrap(original);
    restore.push(() => target[name] = original);
  };
  try {
    const statementProtos = [
      Object.getPrototypeOf(probe.prepare("SELECT 1")),
      Object.getPrototypeOf(await asyncProbe.prepare("SELECT 1")),
    ];
    for (const proto of [Object.getPrototypeOf(probe), Object.getPrototypeOf(asyncProbe)]) {
      patch(proto, "prepare", (original) =>
        function (this: unknown, ...args: unknown[]) {
          const sql = String(args[0]);
          const statement = original.apply(this, args);
          const tag = (s: unknown) => (sqlOf.set(s as object, sql), s);
          return statement instanceof Promise ? statement.then(tag) : tag(statement);
        });
    }
    for (const proto of statementProtos) {
      patch(proto, "iterate", (original) =>
        function (this: unknown, ...args: unknown[]) {
          const sql = sqlOf.get(this as object) ?? "(prepared before counting)";
          calls.set(sql, (calls.get(sql) ?? 0) + 1);
          return original.apply(this, args);
        });
    }
    await fn();
  } finally {
    for (const undo of restore) undo();
    probe.close();
    asyncProbe.close();
  }
  return calls;
}

Deno.test("memory: tasks, their reads and the dashboard's polls never read rows through libsql's iterator", async () => {
  const calls = await iteratorCalls(async () => {
    const fila = await startTestFila({ env: { WORKER_CONCURRENCY: "4" } });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) {
        ids.push((await fila.post("/tasks", { type: "noop", payload: { i } })).body.id);
      }
      const batch = await fila.post("/tasks/batch", {
        tasks: Array.from({ length: 60 }, (_, i) => ({ type: "noop", payload: { i } })),
      });
      ids.push(...batch.body.tasks.map((t: Json) => t.id));
      // progress, a retry, a failure, a cancel: the other writes of a task's path
      ids.push((await fila.post("/tasks", { type: "work", payload: { duration_ms: 50 } })).body.id);
      ids.push(
        (await fila.post("/tasks", { type: "test_flaky", payload: { fail_times: 1 } })).body.id,
      );
      ids.push(
        (await fila.post("/tasks", {
          type: "test_always_fails",
          payload: { unrecoverable: true },
        })).body.id,
      );
      const cancelled = (await fila.post("/tasks", {
        type: "test_sleep",
        payload: { ms: 5_000 },
      })).body.id;
      await fila.waitForTask(cancelled, (t) => t.status === "running");
      assert.equal((await fila.fetch(`/tasks/${cancelled}`, { method: "DELETE" })).status, 202);
      ids.push(cancelled);
      for (const id of ids) await fila.waitForTask(id);
      // what a follower and the dashboard read
      assert.ok((await readTaskEvents(fila.url, ids[0])).length >= 3);
      for (const path of ["/queue/stats", "/tasks?limit=20", `/tasks/${ids[1]}`, "/metrics"]) {
        assert.equal(
          (await fila.fetch(path).then(async (r) => (await r.body?.cancel(), r))).status,
          200,
        );
      }
      // a few sweeps and checkpoints (every 250 and 200 ms here)
      await new Promise((r) => setTimeout(r, 600));
    } finally {
      await fila.stop();
    }
  });
  // each call leaked one native handle; start-up's PRAGMAs are not counted (prepared earlier)
  const reads = [...calls].filter(([sql]) => !/^\s*PRAGMA/i.test(sql));
  assert.deepEqual(reads, [], "statements that read rows through the iterator");
});

/** Anonymous memory of the main thread's malloc arena (`[heap]`), in bytes (Linux). */
const NATIVE_HEAP_PROBE = `
export function nativeHeapBytes() {
  let bytes = 0, mapping = "";
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\\n")) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \\S+ \\S+ \\S+ \\S+\\s*(.*)$/);
    if (head) mapping = head[1];
    const anon = line.match(/^Anonymous:\\s+(\\d+) kB/);
    if (anon && mapping === "[heap]") bytes += Number(anon[1]) * 1024;
  }
  return bytes;
}`;

Deno.test({
  name: "memory: 100,000 reads and 20,000 claims leave the native heap where it was",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // in a child process, so tests running beside this one do not move its figures
    const root = new URL("../", import.meta.url);
    const dir = await Deno.makeTempDir({ prefix: "fila-memory-" });
    const code = `
      ${NATIVE_HEAP_PROBE}
      import { openLibsqlStore } from "${new URL("db/libsql/connect.ts", root)}";
      const store = await openLibsqlStore("file:${dir}/fila.db");
      const claim = { workerId: "w", limit: 4, leaseMs: 5000, limits: [] };
      const round = async (n) => {
        for (let i = 0; i < n; i++) {
          await store.db.$client.execute({ sql: "SELECT id, status FROM tasks WHERE id = ?", args: ["x" + i] });
          if (i % 5 === 0) await store.tasks.turn({ inserts: [], ends: [], claim });
          // a turn of the event loop now and then, as a server has: finalizers run there
          if (i % 100 === 0) await new Promise((r) => setTimeout(r, 0));
        }
      };
      await round(5_000); // warm-up: caches, arenas
      const before = nativeHeapBytes();
      await round(100_000);
      console.log(JSON.stringify({ grownBytes: nativeHeapBytes() - before }));
      await store.close();
    `;
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=js", code],
        cwd: root.pathname,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const { grownBytes } = JSON.parse(text.trim().split("\n").at(-1)!);
      // before the fix: ~55 bytes a call, 6-7 MiB here; after: flat within malloc's slack
      assert.ok(
        grownBytes < 1024 * 1024,
        `native heap grew ${(grownBytes / 2 ** 20).toFixed(2)} MiB`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("memory: a claim returns its rows as the store now holds them, highest priority first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fila-memory-" });
  const store = await openLibsqlStore(`file:${dir}/fila.db`);
  const repo = store.tasks;
  try {
    const now = Date.now();
    const row = (id: string, priority: number, runAt = now - 1): NewTask => ({
      id,
      type: "noop",
      title: null,
      description: null,
      payload: { id },
      status: "queued",
      priority,
      maxAttempts: 3,
      timeoutMs: 1000,
      runAt,
      idempotencyKey: null,
      requestId: null,
      resultTtlMs: null,
      dependsOn: [],
      createdAt: now,
    });
    await repo.turn({
      inserts: [
        row("low", 2),
        row("high", 0),
        row("medium", 1),
        row("high-later", 0, now + 60_000),
        row("medium-2", 1),
      ],
      ends: [],
      claim: null,
    });
    const turn = {
      inserts: [],
      ends: [],
      claim: { workerId: "w1", limit: 3, leaseMs: 5_000, limits: [] },
    };
    const first = await repo.turn(turn);
    assert.deepEqual(first.claimed.map((t) => t.id), ["high", "medium", "medium-2"]);
    for (const claimed of first.claimed) {
      assert.deepEqual(claimed, await repo.get(claimed.id));
      assert.equal(claimed.status, "running");
      assert.equal(claimed.attempts, 1);
      assert.equal(claimed.workerId, "w1");
    }
    const second = await repo.turn(turn);
    assert.deepEqual(second.claimed.map((t) => t.id), ["low"]);
    assert.deepEqual(second.claimed[0], await repo.get("low"));
    assert.deepEqual((await repo.turn(turn)).claimed, []);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("memory: /metrics exposes the process's memory as Prometheus clients name it", async () => {
  const fila = await startTestFila({ env: { ROLE: "api" } });
  try {
    const text = await (await fila.fetch("/metrics")).text();
    const value = (name: string) => {
      assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, "m"), name);
      return Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
    };
    const resident = value("process_resident_memory_bytes");
    const heapTotal = value("nodejs_heap_size_total_bytes");
    const heapUsed = value("nodejs_heap_size_used_bytes");
    const external = value("nodejs_external_memory_bytes");
    assert.ok(resident > 16 * 2 ** 20, `resident ${resident}`);
    assert.ok(heapUsed > 0 && heapUsed <= heapTotal, `heap ${heapUsed} of ${heapTotal}`);
    assert.ok(heapTotal < resident, `heap ${heapTotal}, resident ${resident}`);
    assert.ok(external > 0, `external ${external}`);
  } finally {
    await fila.stop();
  }
});

Deno.test("memory: LocalClient's JSON reading gives the rows the driver gives, in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fila-memory-" });
  const store = await openLibsqlStore(`file:${dir}/fila.db`);
  const client = store.db.$client;
  const driver = new Database(`${dir}/fila.db`);
  try {
    // x has no type; t has TEXT affinity (a number is stored as text, so its check is left
    // out); i has INTEGER affinity, which keeps a real with a fraction as a real
    await client.execute("CREATE TABLE v (k INTEGER, x, t TEXT, i INTEGER)");
    const values = [1 / 3, 0.1, 1e300, 2.5e-320, 3.0, 42, -7, 2 ** 53 - 1, "", 'é "q" \n 😀', null];
    for (const [k, x] of values.entries()) {
      await client.execute({ sql: "INSERT INTO v VALUES (?, ?, ?, ?)", args: [k, x, x, x] });
    }
    const queries = [
      "SELECT k, x FROM v ORDER BY k DESC", // an ORDER BY without LIMIT
      "SELECT t, i, typeof(t), typeof(i) FROM v ORDER BY k",
      "SELECT k AS a, x AS a, typeof(x) AS t FROM v ORDER BY x, k LIMIT 7",
      "WITH w AS (SELECT k, x FROM v WHERE k > 2) SELECT x, k FROM w ORDER BY k",
      "VALUES (1, 'one'), (2, 'two')",
      "SELECT k FROM v WHERE k < 0",
    ];
    for (const sql of queries) {
      const expected = driver.prepare(sql).raw(true).all();
      const got = (await client.execute(sql)).rows.map((row) => Array.from(row));
      assert.deepEqual(got, expected, sql);
    }
    // a BLOB cannot be JSON: the query is then read as given, with the same answer
    await client.execute({
      sql: "INSERT INTO v (k, x) VALUES (?, ?)",
      args: [99, new Uint8Array([1, 2])],
    });
    const blobs = await client.execute("SELECT x FROM v WHERE k = 99");
    assert.deepEqual(new Uint8Array(blobs.rows[0].x as ArrayBuffer), new Uint8Array([1, 2]));
  } finally {
    driver.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
