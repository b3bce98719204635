import assert from "node:assert/strict";
import {
  type Json,
  readTaskEvents,
  sseFrameData,
  startTestFila,
  storeCombos,
} from "./support/harness.ts";

for (const { store, driver, name } of storeCombos()) {
  Deno.test(`[${name}] priority: with one worker busy, a high task queued after five low ones runs next`, async () => {
    const fila = await startTestFila({ store, driver, env: { WORKER_CONCURRENCY: "1" } });
    try {
      // busy until every task is queued (cancelled then: a busy machine may take long to submit)
      const blocker = await fila.post("/tasks", { type: "test_sleep", payload: { ms: 20_000 } });
      await fila.waitForTask(blocker.body.id, (t) => t.status === "running");
      const lows = [];
      for (let i = 0; i < 5; i++) {
        lows.push((await fila.post("/tasks", { type: "noop", priority: "low" })).body.id);
      }
      const high = (await fila.post("/tasks", { type: "noop", priority: "high" })).body.id;
      const freed = await fila.fetch(`/tasks/${blocker.body.id}`, { method: "DELETE" });
      assert.equal(freed.status, 202, await freed.text());
      const done = await Promise.all([high, ...lows].map((id) => fila.waitForTask(id)));
      const started = (t: Json) => Date.parse(t.started_at);
      for (const low of done.slice(1)) {
        assert.ok(
          started(done[0]) <= started(low),
          `high started ${done[0].started_at}, a low one ${low.started_at}`,
        );
      }
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] schedule: delay_ms and run_at hold a task as scheduled until its time`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const before = Date.now();
      const delayed = await fila.post("/tasks", { type: "noop", delay_ms: 700 });
      const runAt = new Date(Date.now() + 700).toISOString();
      const at = await fila.post("/tasks", { type: "noop", run_at: runAt });
      assert.equal(delayed.body.status, "scheduled");
      assert.equal(at.body.status, "scheduled");
      assert.equal(at.body.run_at, runAt);
      assert.equal((await fila.get(`/tasks/${delayed.body.id}`)).body.status, "scheduled");
      const d = await fila.waitForTask(delayed.body.id);
      const a = await fila.waitForTask(at.body.id);
      assert.equal(d.status, "succeeded");
      assert.equal(a.status, "succeeded");
      assert.ok(Date.parse(d.started_at) >= before + 700, "started before its delay");
      assert.ok(Date.parse(a.started_at) >= Date.parse(runAt), "started before run_at");
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] idempotency: the same key (body or header) returns the same task`, async () => {
    const fila = await startTestFila({ store, driver, env: { ROLE: "api" } });
    try {
      const first = await fila.post("/tasks", { type: "noop", idempotency_key: "order-1" });
      const again = await fila.post("/tasks", { type: "noop", idempotency_key: "order-1" });
      assert.equal(first.status, 202);
      assert.equal(again.status, 200);
      assert.equal(again.body.id, first.body.id);
      const h1 = await fila.post("/tasks", { type: "noop" }, { "Idempotency-Key": "order-2" });
      const h2 = await fila.post("/tasks", { type: "noop" }, { "Idempotency-Key": "order-2" });
      assert.equal(h2.body.id, h1.body.id);
      assert.notEqual(h1.body.id, first.body.id);
      assert.equal((await fila.get("/tasks")).body.total, 2);
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] history: one submitted, one start, one success — also for a key sent twice at once`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      // both requests arrive in the same turn and are stored in one transaction
      const [a, b] = await Promise.all([
        fila.post("/tasks", { type: "noop", payload: { n: 1 } }, { "Idempotency-Key": "twice" }),
        fila.post("/tasks", { type: "noop", payload: { n: 1 } }, { "Idempotency-Key": "twice" }),
      ]);
      assert.deepEqual([a.status, b.status].sort(), [200, 202]);
      assert.equal(a.body.id, b.body.id);
      const done = await fila.waitForTask(a.body.id);
      assert.equal(done.status, "succeeded");
      const events = await readTaskEvents(fila.url, a.body.id);
      assert.deepEqual(
        events.map((e) => [e.status, e.message]),
        [
          ["queued", "submitted"],
          ["running", `attempt 1 of 3 on ${fila.instance.engine.workerId}`],
          ["succeeded", null],
        ],
      );
      assert.equal((await fila.get("/tasks")).body.total, 1);
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] batch: all or nothing — one bad item is named and nothing is stored; 1,000 fit`, async () => {
    const fila = await startTestFila({ store, driver, env: { ROLE: "api" } });
    try {
      const bad = await fila.post("/tasks/batch", {
        tasks: [{ type: "noop" }, { type: "sum", payload: { numbers: ["x"] } }, { type: "noop" }],
      });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.message, /tasks\[1\]/);
      assert.equal(bad.body.error.details.index, 1);
      assert.equal((await fila.get("/tasks")).body.total, 0);
      const many = await fila.post("/tasks/batch", {
        tasks: Array.from({ length: 1000 }, (_, n) => ({ type: "noop", payload: { n } })),
      });
      assert.equal(many.status, 202);
      assert.equal(many.body.tasks.length, 1000);
      assert.equal((await fila.get("/tasks")).body.total, 1000);
      const tooMany = await fila.post("/tasks/batch", {
        tasks: Array.from({ length: 1001 }, () => ({ type: "noop" })),
      });
      assert.equal(tooMany.status, 400);
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] retry: a task failing twice goes through retrying and succeeds on attempt 3`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const { body } = await fila.post("/tasks", {
        type: "test_flaky",
        payload: { fail_times: 2 },
        max_attempts: 5,
      });
      const done = await fila.waitForTask(body.id);
      assert.equal(done.status, "succeeded");
      assert.equal(done.attempts, 3);
      assert.deepEqual(done.result, { succeeded_on_attempt: 3 });
      const events = await readTaskEvents(fila.url, body.id);
      const statuses = events.map((e) => e.status);
      assert.equal(statuses.filter((s) => s === "retrying").length, 2, statuses.join(","));
      assert.equal(statuses.at(-1), "succeeded");
      // each attempt's start, once, in order (written with the claim)
      const starts = events.filter((e) => e.status === "running").map((e) => e.message);
      assert.equal(starts.length, 3, JSON.stringify(events));
      starts.forEach((message, i) =>
        assert.match(message, new RegExp(`^attempt ${i + 1} of 5 on `))
      );
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] dead letter: always failing → failed after max_attempts, then POST /retry runs it again`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const { body } = await fila.post("/tasks", { type: "test_always_fails", max_attempts: 2 });
      const failed = await fila.waitForTask(body.id);
      assert.equal(failed.status, "failed");
      assert.equal(failed.attempts, 2);
      assert.match(failed.error, /attempt 2 failed on purpose/);
      const retried = await fila.post(`/tasks/${body.id}/retry`);
      assert.equal(retried.status, 202);
      assert.equal(retried.body.status, "queued");
      assert.equal(retried.body.attempts, 0);
      const again = await fila.waitForTask(body.id);
      assert.equal(again.status, "failed");
      assert.equal(again.attempts, 2);
      const ok = await fila.post("/tasks", { type: "noop" });
      await fila.waitForTask(ok.body.id);
      assert.equal((await fila.post(`/tasks/${ok.body.id}/retry`)).status, 409);
      const unrecoverable = await fila.post("/tasks", {
        type: "test_always_fails",
        payload: { unrecoverable: true },
      });
      const u = await fila.waitForTask(unrecoverable.body.id);
      assert.equal(u.status, "failed");
      assert.equal(u.attempts, 1);
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] cancel: a queued task never runs; a running one stops; a finished one is 409`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fila-test-" });
    const api = await startTestFila({ store, driver, dir, env: { ROLE: "api" } });
    let worker;
    try {
      const queued = await api.post("/tasks", { type: "noop" });
      const cancelled = await api.fetch(`/tasks/${queued.body.id}`, { method: "DELETE" });
      assert.equal(cancelled.status, 200);
      assert.equal((await cancelled.json()).status, "cancelled");
      worker = await startTestFila({ store, driver, dir });
      const running = await worker.post("/tasks", {
        type: "work",
        payload: { duration_ms: 30_000 },
      });
      await worker.waitForTask(running.body.id, (t) => t.status === "running");
      const stop = await worker.fetch(`/tasks/${running.body.id}`, { method: "DELETE" });
      assert.equal(stop.status, 202);
      await stop.body?.cancel();
      const after = await worker.waitForTask(running.body.id, undefined, 5_000);
      assert.equal(after.status, "cancelled");
      const stayed = await worker.get(`/tasks/${queued.body.id}`);
      assert.equal(stayed.body.status, "cancelled");
      assert.equal(stayed.body.started_at, null);
      const again = await worker.fetch(`/tasks/${queued.body.id}`, { method: "DELETE" });
      assert.equal(again.status, 409);
      assert.equal((await again.json()).error.code, "conflict");
      assert.equal(
        await worker.fetch("/tasks/nope", { method: "DELETE" }).then((r) =>
          r.text().then(() => r.status)
        ),
        404,
      );
    } finally {
      await worker?.stop();
      await api.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`[${name}] timeout: an attempt longer than timeout_ms fails with a timeout error`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const { body } = await fila.post("/tasks", {
        type: "test_sleep",
        payload: { ms: 5_000 },
        timeout_ms: 200,
        max_attempts: 1,
      });
      const done = await fila.waitForTask(body.id);
      assert.equal(done.status, "failed");
      assert.match(done.error, /timed out after 200 ms/);
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] lost wake-up: a row stored without any message still runs (sweeper)`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fila-test-" });
    const api = await startTestFila({ store, driver, dir, env: { ROLE: "api" } });
    // an api-only instance stores and enqueues; its KV messages are consumed by nobody here
    const { body } = await api.post("/tasks", { type: "uppercase", payload: { text: "lost" } });
    await api.stop();
    const kvFile = `${dir}/kv.sqlite`;
    await Deno.remove(kvFile).catch(() => {}); // no message survives
    const worker = await startTestFila({ store, driver, dir });
    try {
      const done = await worker.waitForTask(body.id);
      assert.equal(done.status, "succeeded");
      assert.deepEqual(done.result, { text: "LOST" });
    } finally {
      await worker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`[${name}] lost answer: a task claimed by this instance but never started is requeued by its own sweeper`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const first = await fila.waitForTask((await fila.post("/tasks", { type: "noop" })).body.id);
      const parked = await fila.post("/tasks", { type: "noop", delay_ms: 3_600_000 });
      // what a turn leaves when its claim commits but its answer is lost (the connection
      // broke): the task runs under this instance's worker id, which never heard of it
      await fila.sql.query(
        `UPDATE tasks SET status = 'running', worker_id = ?, attempts = 1, lease_until = ?,
          started_at = ? WHERE id = ?`,
        [first.worker_id, Date.now() - 1_000, Date.now() - 6_000, parked.body.id],
      );
      const done = await fila.waitForTask(parked.body.id, undefined, 15_000);
      assert.equal(done.status, "succeeded");
      assert.equal(done.attempts, 2);
    } finally {
      await fila.stop();
    }
  });
}

Deno.test("events: GET /tasks/:id/events streams the history to the end and closes", async () => {
  const fila = await startTestFila();
  try {
    const { body } = await fila.post("/tasks", { type: "work", payload: { duration_ms: 300 } });
    const res = await fila.fetch(`/tasks/${body.id}/events`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    const text = await res.text(); // ends when the task ends
    const frames = text.split("\n\n").filter(Boolean);
    const tasks = frames.filter((f) => f.startsWith("event: task")).map(sseFrameData);
    assert.ok(tasks.some((e) => e.status === "running" && e.progress > 0), "no progress event");
    assert.equal(tasks.at(-1).status, "succeeded");
    assert.ok(frames.at(-1)!.startsWith("event: end"));
    assert.equal(
      await fila.fetch("/tasks/missing/events").then(async (
        r,
      ) => (await r.body?.cancel(), r.status)),
      404,
    );
  } finally {
    await fila.stop();
  }
});
