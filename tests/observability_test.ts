import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { loadConfig } from "../config.ts";
import { configureLogging } from "../main.ts";
import { startTestFila, storeCombos } from "./support/harness.ts";

Deno.test("docs: /docs serves Swagger UI from this app, pointing at /openapi.json", async () => {
  const fila = await startTestFila({ env: { ROLE: "api" } });
  try {
    const page = await (await fila.fetch("/docs")).text();
    assert.match(page, /url: "\/openapi\.json"/);
    for (const asset of page.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)) {
      const res = await fila.fetch(asset[1]);
      assert.equal(res.status, 200, asset[1]);
      assert.ok((await res.arrayBuffer()).byteLength > 1000, asset[1]);
    }
    assert.equal((await fila.get("/docs/assets/../../deno.json")).status, 404);
  } finally {
    await fila.stop();
  }
});

for (const { store, driver, name } of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${name}] stats and metrics move as tasks are submitted and finish`, async () => {
    const fila = await startTestFila({ store, driver, env: { WORKER_CONCURRENCY: "2" } });
    try {
      const before = (await fila.get("/queue/stats")).body;
      assert.equal(before.counts.by_status.succeeded, 0);
      assert.equal(before.instances.length, 1);
      assert.equal(before.instances[0].concurrency, 2);
      const metric = async (pattern: RegExp) => {
        const text = await (await fila.fetch("/metrics")).text();
        return Number(text.match(pattern)?.[1] ?? 0);
      };
      assert.equal(await metric(/^fila_tasks_submitted_total\{type="sum"\} (\d+)/m), 0);

      const blocker = await fila.post("/tasks", { type: "test_sleep", payload: { ms: 800 } });
      const queued = await fila.post("/tasks/batch", {
        tasks: [{ type: "sum", payload: { numbers: [1] } }, {
          type: "sum",
          payload: { numbers: [2] },
          delay_ms: 60_000,
        }],
      });
      await fila.waitForTask(blocker.body.id, (t) => t.status === "running");
      // counts that took long are reused a while (engine.ts, COUNTS_REUSE_FACTOR): on a busy
      // machine the first, `before`, may still be served; wait for fresh ones
      let during = (await fila.get("/queue/stats")).body;
      for (let i = 0; i < 100 && during.counts.by_type.sum !== 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        during = (await fila.get("/queue/stats")).body;
      }
      assert.equal(during.counts.by_status.scheduled, 1, JSON.stringify(during.counts));
      assert.equal(during.counts.by_status.running + during.counts.by_status.succeeded, 2);
      assert.equal(during.counts.by_type.sum, 2);
      assert.equal(during.instances[0].in_flight >= 1, true);
      await fila.waitForTask(queued.body.tasks[0].id);
      await fila.waitForTask(blocker.body.id);
      const after = (await fila.get("/queue/stats")).body;
      assert.equal(after.counts.by_status.succeeded, 2);
      assert.equal(after.last_minute.succeeded, 2);
      assert.equal(after.throughput.at(-1).succeeded, 2);
      assert.equal(await metric(/^fila_tasks_submitted_total\{type="sum"\} (\d+)/m), 2);
      assert.equal(
        await metric(/^fila_task_attempts_finished_total\{type="sum",outcome="succeeded"\} (\d+)/m),
        1,
      );
      assert.equal(
        await metric(/^fila_queue_depth\{status="scheduled",priority="medium"\} (\d+)/m),
        1,
      );
      assert.ok(
        await metric(
          /^fila_http_requests_total\{method="POST",route="\/tasks\/batch",status="202"\} (\d+)/m,
        ) >= 1,
      );
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] health: 200 while the database answers, 503 once it does not`, async () => {
    const fila = await startTestFila({ store, driver, env: { ROLE: "api" } });
    try {
      const ok = await fila.get("/health");
      assert.equal(ok.status, 200);
      assert.equal(ok.body.checks.db.ok, true);
      assert.equal(ok.body.checks.kv.ok, true);
      assert.equal(ok.body.checks.db.store, store === "libsql" ? "libsql-file" : "postgres");
      // the embedded store's checkpoints ran without error
      if (store === "libsql") assert.equal(ok.body.checks.checkpoints.ok, true);
      assert.equal(typeof ok.body.uptime_s, "number");
      assert.ok(ok.body.version);
      await fila.instance.store.close(); // the database goes away under the running instance
      const down = await fila.get("/health");
      assert.equal(down.status, 503);
      assert.equal(down.body.status, "down");
      assert.equal(down.body.checks.db.ok, false);
      assert.ok(down.body.checks.db.error);
    } finally {
      await fila.stop();
    }
  });
}

Deno.test("logs: a request's id is in its own log line and in the log lines of the task it created", async () => {
  const records: LogRecord[] = [];
  await configureLogging(loadConfig({ LOG_LEVEL: "debug", LOG_FORMAT: "json" }), {
    memory: (r) => records.push(r),
  });
  const fila = await startTestFila();
  try {
    const res = await fila.fetch("/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "req-abc-123" },
      body: JSON.stringify({ type: "test_always_fails", max_attempts: 1 }),
    });
    assert.equal(res.headers.get("x-request-id"), "req-abc-123");
    const { id } = await res.json();
    await fila.waitForTask(id);
    const mine = records.filter((r) => r.properties.requestId === "req-abc-123");
    assert.ok(
      mine.some((r) => r.category.join(".") === "fila.http" && r.properties.path === "/tasks"),
    );
    const taskLines = mine.filter((r) => r.category[1] === "task");
    assert.ok(taskLines.length > 0, "no task line carries the request id");
    assert.ok(
      taskLines.every((r) =>
        r.properties.taskId === id && r.properties.type === "test_always_fails"
      ),
    );
    assert.ok(!JSON.stringify(records.map((r) => r.properties)).includes("s3cret"));
  } finally {
    await fila.stop();
    await configureLogging(loadConfig({ LOG_LEVEL: "fatal" }));
  }
});
