import assert from "node:assert/strict";
import { startTestFila, storeCombos } from "./support/harness.ts";

for (const { store, driver, name } of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${name}] retention: finished tasks past TASK_RETENTION_DAYS are deleted with their history; others stay`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const { body } = await fila.post("/tasks/batch", {
        tasks: [{ type: "noop" }, { type: "noop" }, { type: "noop", delay_ms: 60_000 }],
      });
      const [old, recent, waiting] = body.tasks.map((t: { id: string }) => t.id);
      await fila.waitForTask(old);
      await fila.waitForTask(recent);
      const longAgo = Date.now() - 31 * 86_400_000;
      await fila.sql.query("UPDATE tasks SET finished_at = ? WHERE id = ?", [longAgo, old]);

      const purged = await fila.instance.engine.applyRetention();

      assert.equal(purged, 1);
      assert.equal((await fila.get(`/tasks/${old}`)).status, 404);
      const [events] = await fila.sql.query(
        "SELECT count(*) AS n FROM task_events WHERE task_id = ?",
        [
          old,
        ],
      );
      assert.equal(Number(events.n), 0);
      assert.equal((await fila.get(`/tasks/${recent}`)).body.status, "succeeded");
      assert.equal((await fila.get(`/tasks/${waiting}`)).body.status, "scheduled");
    } finally {
      await fila.stop();
    }
  });
}
