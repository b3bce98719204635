/**
 * The seed tutorials' calls, as their readers write them (Celery, Wippy,
 * async-task-manager, RQ): their status words, their missing payloads, their
 * query strings, their regions and months, RQ's result_ttl.
 */
import assert from "node:assert/strict";
import { type Json, startTestFila, storeCombos } from "./support/harness.ts";

Deno.test("seeds: other queues' status words filter the list in any case; answers keep Fila's names", async () => {
  const fila = await startTestFila({ env: { WORKER_CONCURRENCY: "1" } });
  try {
    const done = (await fila.post("/tasks", { type: "noop" })).body;
    await fila.waitForTask(done.id);
    const failed = (await fila.post("/tasks", { type: "test_always_fails", max_attempts: 1 })).body;
    await fila.waitForTask(failed.id);
    const running = (await fila.post("/tasks", { type: "test_sleep", payload: { ms: 5_000 } }))
      .body;
    await fila.waitForTask(running.id, (t) => t.status === "running");
    const later = (await fila.post("/tasks", { type: "noop", delay_ms: 60_000 })).body;
    const ids = async (status: string) => {
      const res = await fila.get(`/tasks?status=${status}`);
      assert.equal(res.status, 200, `${status}: ${JSON.stringify(res.body)}`);
      return res.body.tasks.map((t: Json) => t.id).sort();
    };
    for (const word of ["SUCCESS", "completed", "COMPLETED", "Done", "succeeded"]) {
      assert.deepEqual(await ids(word), [done.id], word);
    }
    for (const word of ["FAILURE", "failed"]) assert.deepEqual(await ids(word), [failed.id], word);
    for (const word of ["STARTED", "IN_PROGRESS", "active"]) {
      assert.deepEqual(await ids(word), [running.id], word);
    }
    for (const word of ["PENDING", "NEW", "waiting"]) assert.deepEqual(await ids(word), [later.id]);
    const listed = await fila.get("/tasks?status=SUCCESS");
    assert.equal(listed.body.tasks[0].status, "succeeded");
    const bad = await fila.get("/tasks?status=bogus");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details.issues[0].path, "status");
    await fila.fetch(`/tasks/${running.id}`, { method: "DELETE" }).then((r) => r.body?.cancel());
  } finally {
    await fila.stop();
  }
});

Deno.test("seeds: an action without data is a task with an empty payload where its type allows one", async () => {
  const fila = await startTestFila();
  try {
    const noop = await fila.post("/tasks", { action: "noop" });
    assert.equal(noop.status, 202, JSON.stringify(noop.body));
    assert.deepEqual(noop.body.payload, {});
    assert.equal((await fila.waitForTask(noop.body.id)).status, "succeeded");
    // a type that needs fields says which one is missing, in the one error shape
    const sum = await fila.post("/tasks", { action: "sum" });
    assert.equal(sum.status, 400);
    assert.deepEqual(sum.body.error.details.issues.map((i: Json) => i.path), ["payload.numbers"]);
  } finally {
    await fila.stop();
  }
});

Deno.test("seeds: /process-csv with a filename only makes 1,000 rows; query errors read as a person writes them", async () => {
  const fila = await startTestFila();
  try {
    const res = await fila.post("/process-csv?filename=test_1.csv");
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const task = await fila.waitForTask(res.body.task_id, undefined, 30_000);
    assert.equal(task.payload.num_rows, 1_000);
    assert.equal(task.result.rows, 1_000);
    const bad = await fila.post("/process-csv?filename=test_1.csv&num_rows=lots");
    assert.equal(bad.status, 400);
    assert.equal(
      bad.body.error.message,
      "invalid query: num_rows: num_rows must be a whole number from 1 to 5,000,000",
    );
    assert.deepEqual(bad.body.error.details.issues, [{
      path: "num_rows",
      message: "num_rows must be a whole number from 1 to 5,000,000",
    }]);
    const month = await fila.post("/aggregate?region=sul&month=2025-13");
    assert.equal(month.body.error.details.issues[0].message, "month must be YYYY-MM, e.g. 2026-03");
  } finally {
    await fila.stop();
  }
});

Deno.test("seeds: /aggregate finds the seeds' regions and months in generated sales, and says what exists when nothing matches", async () => {
  const fila = await startTestFila();
  try {
    const load = await fila.post("/process-csv?filename=vendas.csv&num_rows=5000");
    await fila.waitForTask(load.body.task_id, undefined, 30_000);
    const found = await fila.post("/aggregate?region=sudeste&month=2025-01");
    const result = (await fila.waitForTask(found.body.task_id)).result;
    assert.equal(result.region, "sudeste");
    assert.ok(result.orders > 0, JSON.stringify(result));
    assert.equal(result.hint, undefined);
    for (const region of ["sul", "nordeste", "norte", "centro-oeste", "South"]) {
      const r = await fila.post(`/aggregate?region=${region}&month=2025-06`);
      assert.ok((await fila.waitForTask(r.body.task_id)).result.orders > 0, region);
    }
    const none = await fila.post("/aggregate?region=atlantis&month=2025-01");
    const empty = (await fila.waitForTask(none.body.task_id)).result;
    assert.equal(empty.orders, 0);
    assert.match(empty.hint, /available_regions/);
    assert.deepEqual(empty.available_regions, [
      "centro-oeste",
      "nordeste",
      "norte",
      "sudeste",
      "sul",
    ]);
    assert.equal(empty.available_months.length, 24);
    assert.equal(empty.available_months[0], "2025-01");
  } finally {
    await fila.stop();
  }
});

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] seeds: result_ttl_s deletes a task that long after it ends (RQ's result_ttl); others stay`, async () => {
    const fila = await startTestFila({ store: combo.store, driver: combo.driver });
    try {
      const brief = (await fila.post("/tasks", { type: "noop", result_ttl_s: 1 })).body;
      const kept = (await fila.post("/tasks", { type: "noop" })).body;
      assert.equal(brief.result_ttl_s, 1);
      const ended = await fila.waitForTask(brief.id);
      assert.equal(Date.parse(ended.expires_at) - Date.parse(ended.finished_at), 1_000);
      await fila.waitForTask(kept.id);
      let status = 200;
      for (let i = 0; i < 100 && status === 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await fila.get(`/tasks/${brief.id}`)).status;
      }
      assert.equal(status, 404);
      assert.equal((await fila.get(`/tasks/${kept.id}`)).status, 200);
      assert.equal((await fila.post("/tasks", { type: "noop", result_ttl_s: -1 })).status, 400);
    } finally {
      await fila.stop();
    }
  });
}

Deno.test("errors: every 400 lists its field problems as [{ path, message }], body or payload or batch item", async () => {
  const fila = await startTestFila({ env: { ROLE: "api" } });
  try {
    const body = await fila.post("/tasks", { type: "noop", priority: "urgent" });
    assert.deepEqual(body.body.error.details.issues.map((i: Json) => i.path), ["priority"]);
    const payload = await fila.post("/tasks", { type: "sum", payload: { numbers: [1, "x"] } });
    assert.deepEqual(payload.body.error.details.issues.map((i: Json) => i.path), [
      "payload.numbers.1",
    ]);
    const item = await fila.post("/tasks/batch", {
      tasks: [{ type: "noop" }, { type: "sum", payload: { numbers: ["y"] } }],
    });
    assert.deepEqual(item.body.error.details.issues.map((i: Json) => i.path), [
      "tasks.1.payload.numbers.0",
    ]);
    assert.equal(item.body.error.details.index, 1);
    const unknown = await fila.post("/tasks", { type: "nope" });
    assert.deepEqual(unknown.body.error.details.issues.map((i: Json) => i.path), ["type"]);
    for (const res of [body, payload, item, unknown]) {
      for (const issue of res.body.error.details.issues) {
        assert.deepEqual(Object.keys(issue).sort(), ["message", "path"]);
      }
    }
  } finally {
    await fila.stop();
  }
});
