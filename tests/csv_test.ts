import assert from "node:assert/strict";
import { type Json, readTaskEvents, startTestFila, storeCombos } from "./support/harness.ts";
import { generateSalesCsv } from "../tasks/types/csv/sales_generator.ts";

for (const { store, driver, name } of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${name}] process_csv: 50,000 generated rows report rising progress, count right, repeat exactly, and aggregate matches`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const first = await fila.post("/tasks", {
        type: "process_csv",
        payload: { filename: "sales-a.csv", num_rows: 50_000 },
      });
      const done = await fila.waitForTask(first.body.id, undefined, 60_000);
      assert.equal(done.status, "succeeded", JSON.stringify(done).slice(0, 500));
      assert.equal(done.result.rows, 50_000);
      assert.equal(done.result.stored_rows, 50_000);
      assert.deepEqual(done.result.columns, [
        "date",
        "region",
        "product",
        "quantity",
        "unit_price",
        "amount",
      ]);
      const progress = (await readTaskEvents(fila.url, first.body.id)).filter((e) =>
        e.status === "running"
      )
        .map((e) => e.progress);
      const distinct = [...new Set(progress)];
      assert.ok(distinct.length >= 5, `progress values: ${distinct}`);
      assert.deepEqual(distinct, [...distinct].sort((a, b) => a - b), "progress went down");

      const again = await fila.post("/tasks", {
        type: "process_csv",
        payload: { filename: "sales-a.csv", num_rows: 50_000 },
      });
      const repeat = await fila.waitForTask(again.body.id, undefined, 60_000);
      assert.deepEqual(repeat.result.stats, done.result.stats);
      const [rows] = await fila.sql.query(
        "SELECT count(*) AS n FROM sales WHERE dataset = 'sales-a.csv'",
      );
      assert.equal(Number(rows.n), 50_000, "a reload replaces the dataset");

      // the expected figures, computed here from the same generated file
      let orders = 0, revenue = 0;
      const byProduct = new Map<string, number>();
      for await (const chunk of generateSalesCsv("sales-a.csv", 50_000)) {
        for (const line of chunk.split("\n").slice(0)) {
          const [date, region, product, , , amount] = line.split(",");
          if (region === "sul" && date?.startsWith("2026-03")) {
            orders++;
            revenue += Number(amount);
            byProduct.set(product, (byProduct.get(product) ?? 0) + Number(amount));
          }
        }
      }
      const agg = await fila.post("/aggregate?region=south&month=2026-03");
      assert.equal(agg.status, 202);
      const result = (await fila.waitForTask(agg.body.task_id)).result;
      assert.equal(result.orders, orders);
      assert.ok(Math.abs(result.revenue - revenue) < 0.01, `${result.revenue} vs ${revenue}`);
      assert.equal(result.by_day.reduce((n: number, d: Json) => n + d.orders, 0), orders);
      const topProduct = [...byProduct.entries()].sort((a, b) => b[1] - a[1])[0][0];
      assert.equal(result.top_products[0].product, topProduct);
      assert.ok(Math.abs(result.mean_ticket - revenue / orders) < 0.01);

      const empty = await fila.post("/tasks", {
        type: "aggregate",
        payload: { region: "atlantis", month: "2026-03" },
      });
      const nothing = (await fila.waitForTask(empty.body.id)).result;
      assert.equal(nothing.orders, 0);
      assert.deepEqual(nothing.by_day, []);
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] process_csv: inline CSV gives exact statistics; a ragged file fails naming its line`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const csv =
        "name,score,city\nana,10,Recife\nbia,2.5,Recife\ncaio,-4,Natal\ndani,,Natal\neva,11.5,Recife\n";
      const { body } = await fila.post("/tasks", { type: "process_csv", payload: { csv } });
      const done = await fila.waitForTask(body.id);
      assert.equal(done.status, "succeeded");
      assert.equal(done.result.rows, 5);
      assert.deepEqual(done.result.stats.score, {
        type: "numeric",
        count: 4,
        min: -4,
        max: 11.5,
        mean: 5,
        sum: 20,
        empty: 1,
      });
      assert.deepEqual(done.result.stats.city.top, [{ value: "Recife", count: 3 }, {
        value: "Natal",
        count: 2,
      }]);
      assert.equal(done.result.stats.name.type, "text");
      assert.equal(done.result.stored_rows, undefined, "not a sales file: nothing stored");

      const ragged = await fila.post("/tasks", {
        type: "process_csv",
        payload: { csv: "a,b\n1,2\n3,4\n5\n6,7\n" },
      });
      const failed = await fila.waitForTask(ragged.body.id);
      assert.equal(failed.status, "failed");
      assert.equal(failed.attempts, 1, "a bad file is not retried");
      assert.match(failed.error, /line 4/);
      const quoting = await fila.post("/tasks", {
        type: "process_csv",
        payload: { csv: 'a,b\n1,"2\n3,4\n' },
      });
      const q = await fila.waitForTask(quoting.body.id);
      assert.equal(q.status, "failed");
      assert.match(q.error, /invalid CSV at line \d+/);
      const twoSources = await fila.post("/tasks", {
        type: "process_csv",
        payload: { csv: "a", filename: "x.csv", num_rows: 1 },
      });
      assert.equal(twoSources.status, 400);
    } finally {
      await fila.stop();
    }
  });

  Deno.test(`[${name}] process_csv: cancel mid-file stops it, and no rows are written after`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const { body } = await fila.post("/tasks", {
        type: "process_csv",
        payload: { filename: "big.csv", num_rows: 2_000_000 },
      });
      await fila.waitForTask(body.id, (t) => t.status === "running" && t.progress >= 5, 60_000);
      const res = await fila.fetch(`/tasks/${body.id}`, { method: "DELETE" });
      await res.body?.cancel();
      const cancelled = await fila.waitForTask(body.id);
      assert.equal(cancelled.status, "cancelled");
      const count = async () =>
        Number(
          (await fila.sql.query("SELECT count(*) AS n FROM sales WHERE dataset = 'big.csv'"))[0].n,
        );
      const atCancel = await count();
      assert.ok(atCancel > 0 && atCancel < 1_000_000, String(atCancel));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await count(), atCancel);
    } finally {
      await fila.stop();
    }
  });
}
