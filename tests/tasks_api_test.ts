import assert from "node:assert/strict";
import { startTestFila, storeCombos } from "./support/harness.ts";

for (const { store, driver, name } of storeCombos()) {
  Deno.test(`[${name}] submit: each built-in type succeeds with the right result`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const cases = [
        { type: "noop", payload: { n: 41 }, expected: 42 },
        { type: "uppercase", payload: { text: "olá fila" }, expected: { text: "OLÁ FILA" } },
        { type: "sum", payload: { numbers: [1, 2, 3.5] }, expected: { sum: 6.5, count: 3 } },
        { type: "work", payload: { duration_ms: 50 }, expected: { worked_ms: 50 } },
      ];
      for (const c of cases) {
        const res = await fila.fetch("/tasks", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ type: c.type, payload: c.payload }),
        });
        assert.equal(res.status, 202);
        const created = await res.json();
        assert.equal(res.headers.get("location"), `/tasks/${created.id}`);
        assert.equal(created.type, c.type);
        const done = await fila.waitForTask(created.id);
        assert.equal(done.status, "succeeded", JSON.stringify(done));
        assert.deepEqual(done.result, c.expected);
        assert.equal(done.attempts, 1);
        assert.equal(done.progress, 100);
      }
      // timed noop: the benchmarks' clock, taken inside the run
      const before = performance.timeOrigin + performance.now();
      const timed = await fila.post("/tasks", { type: "noop", payload: { n: 1, timed: true } });
      const result = (await fila.waitForTask(timed.body.id)).result;
      const after = performance.timeOrigin + performance.now();
      assert.equal(result.value, 2);
      assert.ok(before <= result.t_start && result.t_start <= result.t_end, JSON.stringify(result));
      assert.ok(result.t_end <= after, JSON.stringify({ result, after }));
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] submit: aliases action/data, title-only work item, /api/v1 mount`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const aliased = await fila.post("/api/v1/tasks", {
        action: "uppercase",
        data: { text: "x" },
      });
      assert.equal(aliased.status, 202);
      assert.equal(aliased.body.type, "uppercase");
      assert.deepEqual(aliased.body.payload, { text: "x" });
      const item = await fila.post("/tasks", {
        title: "Write report",
        payload: { duration_ms: 10 },
      });
      assert.equal(item.status, 202);
      assert.equal(item.body.type, "work");
      assert.equal(item.body.title, "Write report");
      const done = await fila.waitForTask(item.body.id);
      assert.equal(done.status, "succeeded");
      assert.equal((await fila.get(`/api/v1/tasks/${aliased.body.id}`)).status, 200);
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] list: filters, limit/offset/skip, newest first; 404 for unknown id`, async () => {
    const fila = await startTestFila({ store, driver, env: { ROLE: "api" } });
    try {
      const { body } = await fila.post("/tasks/batch", {
        tasks: [
          { type: "noop", priority: "low" },
          { type: "uppercase", payload: { text: "a" }, priority: "HIGH" },
          { type: "noop", priority: "High" },
          { type: "sum", payload: { numbers: [] } },
          { type: "noop" },
        ],
      });
      assert.equal(body.tasks.length, 5);
      const all = await fila.get("/tasks?limit=100");
      assert.equal(all.body.total, 5);
      assert.equal(all.body.count, 5);
      const ids = all.body.tasks.map((t: { id: string }) => t.id);
      assert.deepEqual(ids, [...body.tasks.map((t: { id: string }) => t.id)].reverse());
      const noops = await fila.get("/tasks?type=noop");
      assert.equal(noops.body.total, 3);
      const high = await fila.get("/tasks?priority=HIGH");
      assert.equal(high.body.total, 2);
      assert.ok(high.body.tasks.every((t: { priority: string }) => t.priority === "high"));
      const queued = await fila.get("/tasks?status=QUEUED&limit=2");
      assert.equal(queued.body.count, 2);
      assert.equal(queued.body.total, 5);
      const page2 = await fila.get("/tasks?limit=2&offset=2");
      assert.deepEqual(page2.body.tasks.map((t: { id: string }) => t.id), ids.slice(2, 4));
      const skip = await fila.get("/tasks?limit=2&skip=4");
      assert.deepEqual(skip.body.tasks.map((t: { id: string }) => t.id), ids.slice(4));
      const missing = await fila.get("/tasks/does-not-exist");
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, "not_found");
      assert.equal((await fila.get("/tasks/does-not-exist/status")).status, 404);
      const status = await fila.get(`/tasks/${ids[0]}/status`);
      assert.deepEqual(status.body, { id: ids[0], status: "queued", progress: 0 });
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] counts: succeeded, failed and waiting tasks are counted right in lists and /queue/stats`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const { body } = await fila.post("/tasks/batch", {
        tasks: [
          { type: "noop" },
          { type: "noop" },
          { type: "uppercase", payload: { text: "a" } },
          { type: "test_always_fails", payload: { unrecoverable: true } },
        ],
      });
      await Promise.all(body.tasks.map((t: { id: string }) => fila.waitForTask(t.id)));
      await fila.post("/tasks", { type: "noop", delay_ms: 3_600_000 });
      const total = async (query: string) => (await fila.get(`/tasks?${query}`)).body.total;
      assert.equal(await total("status=succeeded"), 3);
      assert.equal(await total("status=SUCCESS&type=noop"), 2);
      assert.equal(await total("status=failed"), 1);
      assert.equal(await total("status=scheduled&type=noop"), 1);
      assert.equal(await total("type=noop"), 3);
      assert.equal(await total(""), 5);
      const listed = (await fila.get("/tasks?status=succeeded")).body.tasks;
      assert.deepEqual(
        listed.map((t: { id: string }) => t.id),
        body.tasks.slice(0, 3).map((t: { id: string }) => t.id).reverse(),
      );
      const stats = (await fila.get("/queue/stats")).body.counts.by_status;
      assert.equal(stats.succeeded, 3);
      assert.equal(stats.failed, 1);
      assert.equal(stats.scheduled, 1);
    } finally {
      await fila.stop();
    }
  });
}
