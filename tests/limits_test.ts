/**
 * Per-type limits, cluster-wide (Oban's queue limits, BullMQ's global
 * concurrency and rate limits): set on one instance over the API, applied by
 * every instance — here a second process — within a second.
 */
import assert from "node:assert/strict";
import { comboEnv, type Json, spawnFila, startTestFila, storeCombos } from "./support/harness.ts";
import { SPANS_TABLE } from "./support/test_task_types.ts";

const patch = (fila: { fetch: (p: string, i?: RequestInit) => Promise<Response> }, body: unknown) =>
  fila.fetch("/task-types/test_span", {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));

/** The most test_span runs that overlapped in time. */
function maxOverlap(spans: { started: number; ended: number }[]): number {
  const edges = spans.flatMap((s) => [[s.started, 1], [s.ended, -1]] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0, max = 0;
  for (const [, d] of edges) max = Math.max(max, now += d);
  return max;
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] limits: concurrency holds across two processes; paused starts nothing; rate_per_minute caps starts`, async () => {
    const fila = await startTestFila({
      store: combo.store,
      driver: combo.driver,
      env: { WORKER_CONCURRENCY: "8" },
    });
    const other = await spawnFila({
      ...await comboEnv(combo, fila.dir),
      WORKER_CONCURRENCY: "8",
      LOG_LEVEL: "fatal",
    });
    const settle = () => new Promise((r) => setTimeout(r, 1_300)); // every instance re-reads limits each second
    try {
      // made before both processes run test_span: two racing to make it can collide
      await fila.sql.query(SPANS_TABLE);
      const set = await patch(fila, { concurrency: 2 });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.deepEqual(set.body.limits, { concurrency: 2, rate_per_minute: null, paused: false });
      await settle();
      const batch = await fila.post("/tasks/batch", {
        tasks: Array.from({ length: 10 }, () => ({ type: "test_span", payload: { ms: 250 } })),
      });
      for (const t of batch.body.tasks) await fila.waitForTask(t.id);
      const spans = await fila.sql.query<{ started: number; ended: number; pid: number }>(
        "SELECT started, ended, pid FROM test_spans",
      );
      assert.equal(spans.length, 10);
      assert.equal(
        maxOverlap(spans.map((s) => ({ started: Number(s.started), ended: Number(s.ended) }))),
        2,
      );

      // paused: nothing of the type starts, anywhere; other types run
      await patch(fila, { concurrency: null, paused: true });
      await settle();
      const held = await fila.post("/tasks/batch", {
        tasks: Array.from({ length: 3 }, () => ({ type: "test_span", payload: { ms: 10 } })),
      });
      const other_type = await fila.post("/tasks", { type: "noop" });
      assert.equal((await fila.waitForTask(other_type.body.id)).status, "succeeded");
      await new Promise((r) => setTimeout(r, 700));
      for (const t of held.body.tasks) {
        assert.equal((await fila.get(`/tasks/${t.id}`)).body.status, "queued");
      }
      const listed = (await fila.get("/task-types")).body.types.find((t: Json) =>
        t.type === "test_span"
      );
      assert.equal(listed.limits.paused, true);
      await patch(fila, { paused: false });
      for (const t of held.body.tasks) {
        assert.equal((await fila.waitForTask(t.id)).status, "succeeded");
      }

      // rate: at most 3 starts a minute across both instances
      await patch(fila, { rate_per_minute: 3 });
      await settle();
      const rated = await fila.post("/tasks/batch", {
        tasks: Array.from({ length: 6 }, () => ({ type: "test_span", payload: { ms: 10 } })),
      });
      assert.equal(rated.status, 202, JSON.stringify(rated.body));
      await new Promise((r) => setTimeout(r, 1_500));
      const statuses = await Promise.all(
        rated.body.tasks.map(async (t: Json) => (await fila.get(`/tasks/${t.id}`)).body.status),
      );
      assert.equal(statuses.filter((s) => s === "succeeded").length, 3, statuses.join(","));
      assert.equal(statuses.filter((s) => s === "queued").length, 3, statuses.join(","));
      const usage = (await fila.get("/task-types")).body.types.find((t: Json) =>
        t.type === "test_span"
      );
      assert.equal(usage.usage.started_last_minute, 3);
      assert.equal((await patch(fila, { rate_per_minute: null })).status, 200);
      for (const t of rated.body.tasks) {
        assert.equal((await fila.waitForTask(t.id)).status, "succeeded");
      }

      assert.equal((await patch(fila, { concurrency: 0 })).status, 400);
      const unknown = await fila.fetch("/task-types/nope", {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ paused: true }),
      });
      assert.equal(unknown.status, 400);
      await unknown.body?.cancel();
      // no body at all is not an empty change: the document requires one
      const bodiless = await fila.fetch("/task-types/test_span", { method: "PATCH" });
      assert.equal(bodiless.status, 415);
      assert.match((await bodiless.json()).error.message, /JSON/);
    } finally {
      other.kill("SIGKILL");
      await other.exited;
      await fila.stop();
    }
  });
}
