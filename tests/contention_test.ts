/**
 * Fila beside other processes that hold the database: a lock held past the
 * wait, a long purge next door, an instance that died with a cancel pending, a
 * disk that is full. Contention comes from real second processes, never mocks.
 * (The dead instance's cancel also runs on PostgreSQL; the rest is about libSQL's file lock.)
 */
import assert from "node:assert/strict";
import type { LibsqlStore } from "../db/libsql/connect.ts";
import {
  clientFor,
  comboEnv,
  type Json,
  spawnFila,
  startTestFila,
  storeCombos,
  testEnv,
} from "./support/harness.ts";
import { holdWriteLock } from "./support/lock_holder.ts";

Deno.test("contention: a write refused by a lock held past the wait fails alone; the next ones go through and /health says why meanwhile", async () => {
  const fila = await startTestFila({ env: { DATABASE_LOCK_WAIT_MS: "300" } });
  const lock = holdWriteLock(`${fila.dir}/fila.db`, 5_000);
  try {
    await lock.locked;
    const refused = await fila.post("/tasks", { type: "noop" });
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, "unavailable");
    assert.match(refused.body.error.message, /busy/);
    const health = await fila.get("/health");
    assert.equal(health.status, 503);
    assert.equal(health.body.checks.db.can_write, false);
    await lock.released;
    // the statement that met the lock is not left half-run: the same writes work at once
    const single = await fila.post("/tasks", { type: "noop", payload: { n: 1 } });
    assert.equal(single.status, 202, JSON.stringify(single.body));
    const batch = await fila.post("/tasks/batch", { tasks: [{ type: "noop" }, { type: "noop" }] });
    assert.equal(batch.status, 202, JSON.stringify(batch.body));
    assert.equal((await fila.waitForTask(single.body.id)).status, "succeeded");
    const after = await fila.get("/health");
    assert.equal(after.status, 200);
    assert.equal(after.body.checks.db.can_write, true);
  } finally {
    await lock.done();
    await fila.stop();
  }
});

Deno.test("contention: while another process holds the lock, the instance keeps answering and a waiting submit goes through after", async () => {
  const fila = await startTestFila({ env: { LEASE_MS: "1500" } });
  const log: string[] = [];
  try {
    const running = await fila.post("/tasks", { type: "test_sleep", payload: { ms: 3_500 } });
    await fila.waitForTask(running.body.id, (t) => t.status === "running");
    const lock = holdWriteLock(`${fila.dir}/fila.db`, 2_500, log);
    await lock.locked;
    const waiting = fila.post("/tasks", { type: "uppercase", payload: { text: "later" } })
      .then((r) => (log.push("submitted"), r));
    const read = await fila.get(`/tasks/${running.body.id}`);
    log.push("read");
    const health = await fila.get("/health");
    log.push("health");
    assert.equal(read.status, 200);
    assert.equal(health.body.checks.db.can_write, false);
    await lock.done();
    assert.equal((await waiting).status, 202);
    // reads and /health answered while the lock was held; the submit waited for it
    assert.ok(log.indexOf("read") < log.indexOf("released"), log.join(" "));
    assert.ok(log.indexOf("health") < log.indexOf("released"), log.join(" "));
    assert.ok(log.indexOf("read") < log.indexOf("submitted"), log.join(" "));
    // the lease ran out under the lock, yet the task was never handed to anyone else
    const done = await fila.waitForTask(running.body.id);
    assert.equal(done.status, "succeeded");
    assert.equal(done.attempts, 1);
  } finally {
    await fila.stop();
  }
});

Deno.test("contention: a long retention purge goes in chunks, so a neighbour's submit is not held until it ends", async () => {
  // only the purge under test deletes: this instance's sweeper sleeps, the neighbour keeps all
  const fila = await startTestFila({
    env: { TASK_RETENTION_DAYS: "30", SWEEP_INTERVAL_MS: "600000" },
  });
  const neighbour = await spawnFila({
    ...testEnv(fila.dir),
    TASK_RETENTION_DAYS: "0",
    LOG_LEVEL: "fatal",
  });
  try {
    // 30,000 tasks that ended 40 days ago, with their history
    const ended = Date.now() - 40 * 86_400_000;
    await fila.sql.query(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000)
       INSERT INTO tasks (id, type, payload, status, priority, progress, attempts, max_attempts,
         timeout_ms, run_at, cancel_requested, created_at, updated_at, finished_at, note)
       SELECT printf('00000000-old0-7000-8000-%012d', i), 'noop', '{}', 'succeeded', 1, 100, 1, 3,
         1000, ?, 0, ?, ?, ?, 'submitted' FROM n`,
      [ended, ended, ended, ended],
    );
    const order: string[] = [];
    const purge = fila.instance.engine.applyRetention().then((n) => (order.push("purged"), n));
    await new Promise((r) => setTimeout(r, 50)); // the purge is under way
    const submitted = await clientFor(neighbour.url!).post("/tasks", { type: "noop" });
    order.push("neighbour submitted");
    assert.equal(submitted.status, 202);
    assert.equal(await purge, 30_000);
    assert.deepEqual(order, ["neighbour submitted", "purged"]);
    const [left] = await fila.sql.query(
      "SELECT count(*) AS n FROM task_events WHERE task_id LIKE ?",
      ["00000000-old0-%"],
    );
    assert.equal(Number(left.n), 0, "the history goes with its task");
  } finally {
    neighbour.kill("SIGKILL");
    await neighbour.exited;
    await fila.stop();
  }
});

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] contention: a cancel asked for while its instance is dead ends the task as cancelled once the lease runs out`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fila-deadcancel-" });
    // the lease must outlast the survivor's start (longer on PostgreSQL: on a busy machine it
    // took over a second), or its sweeper requeues the task before the cancel is asked for
    const leaseMs = combo.store === "postgres" ? "3000" : "1000";
    const env = { ...await comboEnv(combo, dir), LEASE_MS: leaseMs, LOG_LEVEL: "fatal" };
    const doomed = await spawnFila(env);
    let survivor;
    try {
      const api = clientFor(doomed.url!);
      const { body } = await api.post("/tasks", { type: "test_sleep", payload: { ms: 60_000 } });
      await api.waitForTask(body.id, (t) => t.status === "running");
      doomed.kill("SIGKILL");
      await doomed.exited;
      survivor = await spawnFila(env);
      const other = clientFor(survivor.url!);
      const cancel = await other.fetch(`/tasks/${body.id}`, { method: "DELETE" });
      assert.equal(cancel.status, 202);
      await cancel.body?.cancel();
      const done = await other.waitForTask(body.id, undefined, 15_000);
      assert.equal(done.status, "cancelled");
      assert.ok(done.finished_at);
      // and it can be replayed like any cancelled task
      assert.equal((await other.post(`/tasks/${body.id}/retry`)).status, 202);
    } finally {
      doomed.kill("SIGKILL");
      survivor?.kill("SIGKILL");
      await survivor?.exited;
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("contention: a full disk answers 507 with the cause, and a finished attempt is recorded once space is back, not charged again", async () => {
  const fila = await startTestFila();
  const client = (fila.instance.store as LibsqlStore).db.$client;
  try {
    const running = await fila.post("/tasks", { type: "test_sleep", payload: { ms: 600 } });
    await fila.waitForTask(running.body.id, (t: Json) => t.status === "running");
    // SQLite's page limit: writes past it fail with SQLITE_FULL, as on a full disk
    const [{ pages }] = (await client.execute("PRAGMA page_count")).rows.map((r) => ({
      pages: Number(r[0]),
    }));
    await client.execute(`PRAGMA max_page_count = ${pages}`);
    const refused = await fila.post("/tasks/batch", {
      tasks: Array.from({ length: 500 }, () => ({ type: "noop", payload: { n: 1 } })),
    });
    assert.equal(refused.status, 507, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, "insufficient_storage");
    assert.match(refused.body.error.message, /full/);
    await new Promise((r) => setTimeout(r, 1_000)); // the task ends while the disk is full
    await client.execute("PRAGMA max_page_count = 1073741823");
    const done = await fila.waitForTask(running.body.id);
    assert.equal(done.status, "succeeded");
    assert.equal(done.attempts, 1);
  } finally {
    await fila.stop();
  }
});
