import assert from "node:assert/strict";
import { startTestFila } from "./support/harness.ts";

Deno.test("shortcuts: /process-csv, /aggregate, /send-report answer 202 {task_id, status, status_url} and 400 on bad parameters", async () => {
  const fila = await startTestFila();
  try {
    const csv = await fila.fetch("/process-csv?filename=vendas.csv&num_rows=1000", {
      method: "POST",
    });
    assert.equal(csv.status, 202);
    const accepted = await csv.json();
    assert.deepEqual(Object.keys(accepted).sort(), ["status", "status_url", "task_id"]);
    assert.equal(accepted.status_url, `/tasks/${accepted.task_id}/status`);
    const status = await fila.get(accepted.status_url);
    assert.equal(status.status, 200);
    assert.equal((await fila.waitForTask(accepted.task_id)).result.rows, 1000);

    const agg = await fila.post("/api/v1/aggregate?region=South&month=2026-01");
    assert.equal(agg.status, 202);
    assert.equal(agg.body.status_url, `/api/v1/tasks/${agg.body.task_id}/status`);
    const aggregated = await fila.waitForTask(agg.body.task_id);
    assert.equal(aggregated.status, "succeeded");
    assert.equal(aggregated.result.region, "sul"); // English names map to the stored ones

    const report = await fila.post("/send-report?email=ana@example.com&report_type=sales");
    assert.equal(report.status, 202);
    assert.equal((await fila.waitForTask(report.body.task_id)).status, "succeeded");

    for (
      const path of [
        "/process-csv?filename=vendas.csv&num_rows=0",
        "/process-csv?filename=vendas.csv&num_rows=5000001",
        "/process-csv?filename=vendas.csv&num_rows=abc",
        "/process-csv?num_rows=10",
        "/process-csv?filename=../etc/passwd&num_rows=10",
        "/aggregate?region=south&month=2026-13",
        "/aggregate?region=south",
        "/send-report?email=not-mail&report_type=sales",
        "/send-report?email=a@b.co&report_type=nope",
      ]
    ) {
      const res = await fila.post(path);
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
      assert.ok(res.body.error.message, path);
    }
  } finally {
    await fila.stop();
  }
});
