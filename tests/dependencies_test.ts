/**
 * Tasks that wait for others (depends_on, BullMQ flows): blocked until their
 * dependencies succeed, given their results, cancelled when one fails for
 * good, refused when they name what does not exist; and bulk retry/cancel.
 */
import assert from "node:assert/strict";
import { type Json, startTestFila, storeCombos } from "./support/harness.ts";

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] dependencies: a task waits, blocked, until its dependency succeeds, then runs with its result`, async () => {
    const fila = await startTestFila({ store: combo.store, driver: combo.driver });
    try {
      const first = (await fila.post("/tasks", { type: "test_sleep", payload: { ms: 300 } })).body;
      const second = await fila.post("/tasks", {
        type: "test_echo_dependencies",
        payload: { tag: "after" },
        depends_on: [first.id],
      });
      assert.equal(second.status, 202, JSON.stringify(second.body));
      assert.equal(second.body.status, "blocked");
      assert.equal(second.body.dependency_count, 1);
      const detail = (await fila.get(`/tasks/${second.body.id}`)).body;
      assert.deepEqual(detail.depends_on.map((d: Json) => d.id), [first.id]);
      assert.deepEqual(
        (await fila.get(`/tasks/${first.id}`)).body.dependents.map((d: Json) => d.id),
        [
          second.body.id,
        ],
      );
      const done = await fila.waitForTask(second.body.id);
      const parent = await fila.waitForTask(first.id);
      assert.equal(done.status, "succeeded");
      assert.ok(Date.parse(done.started_at) >= Date.parse(parent.finished_at));
      assert.deepEqual(done.result, {
        tag: "after",
        dependencies: { [first.id]: { slept_ms: 300, id: first.id } },
      });
      // a dependency that already succeeded: the task is not blocked at all (queued, or claimed at once)
      const late = await fila.post("/tasks", { type: "noop", depends_on: [first.id] });
      assert.ok(["queued", "running"].includes(late.body.status), late.body.status);
      assert.equal((await fila.waitForTask(late.body.id)).status, "succeeded");
    } finally {
      await fila.stop();
    }
  });
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] dependencies: a batch chains its items by index; a failure cancels everything downstream, naming it`, async () => {
    const fila = await startTestFila({ store: combo.store, driver: combo.driver });
    try {
      const chain = await fila.post("/tasks/batch", {
        tasks: [
          { type: "test_sleep", payload: { ms: 100 } },
          { type: "test_echo_dependencies", depends_on: [0] },
          { type: "noop", depends_on: [1, 0] },
        ],
      });
      assert.equal(chain.status, 202, JSON.stringify(chain.body));
      const [a, b, c] = await Promise.all(
        chain.body.tasks.map((t: Json) => fila.waitForTask(t.id)),
      );
      assert.deepEqual([a.status, b.status, c.status], ["succeeded", "succeeded", "succeeded"]);
      assert.ok(Date.parse(c.started_at) >= Date.parse(b.finished_at));

      const doomed = await fila.post("/tasks/batch", {
        tasks: [
          { type: "test_always_fails", max_attempts: 1 },
          { type: "noop", depends_on: [0] },
          { type: "noop", depends_on: [1] },
        ],
      });
      const [root, child, grandchild] = doomed.body.tasks.map((t: Json) => t.id);
      assert.equal((await fila.waitForTask(root)).status, "failed");
      for (const id of [child, grandchild]) {
        const t = await fila.waitForTask(id);
        assert.equal(t.status, "cancelled");
        assert.equal(t.started_at, null);
        assert.match(t.error, new RegExp(`dependency ${root} did not succeed \\(failed\\)`));
      }
      // a dependency that failed already: cancelled at submit
      const after = await fila.post("/tasks", { type: "noop", depends_on: [root] });
      assert.equal(after.body.status, "cancelled");
      // cancelling a waiting dependency cancels what waits for it
      const api = await fila.post("/tasks/batch", {
        tasks: [{ type: "noop", delay_ms: 60_000 }, { type: "noop", depends_on: [0] }],
      });
      const [waiting, blocked] = api.body.tasks.map((t: Json) => t.id);
      await fila.fetch(`/tasks/${waiting}`, { method: "DELETE" }).then((r) => r.body?.cancel());
      assert.equal((await fila.get(`/tasks/${blocked}`)).body.status, "cancelled");
    } finally {
      await fila.stop();
    }
  });
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] dependencies: unknown ids, later items and more than 100 are 400s naming the entry`, async () => {
    const fila = await startTestFila({
      store: combo.store,
      driver: combo.driver,
      env: { ROLE: "api" },
    });
    try {
      const unknown = await fila.post("/tasks", { type: "noop", depends_on: ["no-such-task"] });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error.details.issues[0].path, "depends_on.0");
      assert.match(unknown.body.error.message, /no task with id 'no-such-task'/);
      const forward = await fila.post("/tasks/batch", {
        tasks: [{ type: "noop", depends_on: [1] }, { type: "noop" }],
      });
      assert.equal(forward.status, 400);
      assert.equal(forward.body.error.details.issues[0].path, "tasks.0.depends_on.0");
      const self = await fila.post("/tasks/batch", { tasks: [{ type: "noop", depends_on: [0] }] });
      assert.equal(self.status, 400);
      const many = await fila.post("/tasks", {
        type: "noop",
        depends_on: Array.from({ length: 101 }, (_, i) => `t${i}`),
      });
      assert.equal(many.status, 400);
      assert.equal((await fila.get("/tasks")).body.total, 0, "nothing stored");
    } finally {
      await fila.stop();
    }
  });
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] bulk: retry every failed task of a type, cancel every waiting one matching a filter`, async () => {
    const fila = await startTestFila({
      store: combo.store,
      driver: combo.driver,
      env: { ROLE: "api" },
    });
    const worker = await startTestFila({
      store: combo.store,
      driver: combo.driver,
      dir: fila.dir,
      removeDir: false,
    });
    try {
      const failing = await fila.post("/tasks/batch", {
        tasks: Array.from({ length: 3 }, () => ({ type: "test_always_fails", max_attempts: 1 })),
      });
      for (const t of failing.body.tasks) await fila.waitForTask(t.id);
      await worker.stop();
      const retried = await fila.post("/tasks/bulk-retry", { type: "test_always_fails" });
      assert.deepEqual(retried.body, { changed: 3 });
      assert.equal((await fila.get("/tasks?status=queued&type=test_always_fails")).body.total, 3);
      const cutoff = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      await fila.post("/tasks/batch", {
        tasks: [{ type: "noop" }, { type: "noop", priority: "low" }],
      });
      const old = await fila.post("/tasks/bulk-cancel", { type: "noop", created_before: cutoff });
      assert.deepEqual(old.body, { changed: 0 });
      const low = await fila.post("/tasks/bulk-cancel", { priority: "LOW" });
      assert.deepEqual(low.body, { changed: 1 });
      const rest = await fila.post("/tasks/bulk-cancel", {});
      assert.deepEqual(rest.body, { changed: 4 });
      assert.equal((await fila.get("/tasks?status=cancelled")).body.total, 5);
      const bad = await fila.post("/tasks/bulk-cancel", { status: "succeeded" });
      assert.equal(bad.status, 400);
    } finally {
      await fila.stop();
    }
  });
}
