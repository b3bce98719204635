import assert from "node:assert/strict";
import { startTestFila, storeCombos } from "./support/harness.ts";
import { runMinute } from "../tasks/scheduler.ts";

Deno.test("faults: with the database write-locked by another process for 2 s, a submit waits and succeeds", async () => {
  const fila = await startTestFila();
  const locker = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./support/lock_database.ts", import.meta.url).pathname,
      `${fila.dir}/fila.db`,
      "2000",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = locker.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("LOCKED")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the locker did not lock");
      out += value;
    }
    const res = await fila.post("/tasks", { type: "uppercase", payload: { text: "patience" } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const done = await fila.waitForTask(res.body.id);
    assert.deepEqual(done.result, { text: "PATIENCE" });
    await reader.cancel();
  } finally {
    assert.equal((await locker.status).code, 0);
    await fila.stop();
  }
});

Deno.test("db driver: the minute cron drains ready work by itself (Deno Deploy keeps no loop alive)", async () => {
  // an api-role instance runs no workers, no sweeper and no claim loop: only the cron path can run these
  const fila = await startTestFila({ driver: "db", env: { ROLE: "api" } });
  try {
    const { body } = await fila.post("/tasks/batch", {
      tasks: Array.from({ length: 20 }, (_, n) => ({ type: "noop", payload: { n } })),
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(
      (await fila.get("/tasks?status=queued")).body.total,
      20,
      "something ran them before the cron",
    );
    await runMinute(fila.instance.scheduler, fila.instance.engine, new Date(), 10_000);
    for (const task of body.tasks) {
      const done = (await fila.get(`/tasks/${task.id}`)).body;
      assert.equal(done.status, "succeeded");
      assert.equal(done.worker_id, fila.instance.instanceId);
    }
  } finally {
    await fila.stop();
  }
});

for (const { store, driver, name } of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${name}] roles: ROLE=api runs nothing; ROLE=worker serves only health and metrics, and runs the tasks`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fila-roles-" });
    const api = await startTestFila({ store, driver, dir, env: { ROLE: "api" } });
    let worker;
    try {
      const { body } = await api.post("/tasks", { type: "noop", payload: { n: 1 } });
      await new Promise((r) => setTimeout(r, 400));
      assert.equal((await api.get(`/tasks/${body.id}`)).body.status, "queued");
      worker = await startTestFila({ store, driver, dir, env: { ROLE: "worker" } });
      assert.equal((await worker.get("/tasks")).status, 404);
      assert.equal((await worker.get("/health")).status, 200);
      assert.equal((await worker.fetch("/metrics")).status, 200);
      const done = await api.waitForTask(body.id);
      assert.equal(done.status, "succeeded");
      assert.equal(done.worker_id, worker.instance.instanceId);
    } finally {
      await worker?.stop();
      await api.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
