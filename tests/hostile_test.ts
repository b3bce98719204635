/**
 * Requests an attacker or a confused client would send: invented methods that
 * must not grow the metrics, HEAD and dropped streams that must not leave
 * loops behind, lists over a large store that must read an index.
 */
import assert from "node:assert/strict";
import { startTestFila } from "./support/harness.ts";

Deno.test("hostile: invented HTTP methods, even unauthenticated, add no label values to /metrics", async () => {
  const fila = await startTestFila({ env: { API_TOKEN: "s3cret" } });
  try {
    for (let i = 0; i < 200; i++) {
      const res = await fila.fetch(`/tasks/${i}`, { method: `BREW${i}` });
      await res.body?.cancel();
      assert.ok(res.status >= 400 && res.status < 500, `BREW${i}: ${res.status}`);
    }
    const text = await (await fila.fetch("/metrics")).text();
    const methods = new Set([...text.matchAll(/method="([^"]*)"/g)].map((m) => m[1]));
    assert.ok(methods.has("other"), [...methods].join(","));
    assert.deepEqual([...methods].filter((m) => m.startsWith("BREW")), []);
    const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]));
    assert.ok(routes.size < 40, `${routes.size} route labels: ${[...routes].join(" ")}`);
    assert.deepEqual([...routes].filter((r) => /\/tasks\/\d/.test(r)), []);
  } finally {
    await fila.stop();
  }
});

Deno.test("hostile: HEAD on a live stream answers its headers and leaves nothing running; a dropped stream is let go", async () => {
  const fila = await startTestFila();
  try {
    const { body } = await fila.post("/tasks", { type: "test_sleep", payload: { ms: 30_000 } });
    const streams = async () => {
      const text = await (await fila.fetch("/metrics")).text();
      return Number(text.match(/^fila_live_streams (\d+)/m)?.[1]);
    };
    for (let i = 0; i < 50; i++) {
      const res = await fila.fetch(`/tasks/${body.id}/events`, { method: "HEAD" });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
      await res.body?.cancel();
    }
    assert.equal(await streams(), 0);
    // a follower that goes away mid-stream
    const controller = new AbortController();
    const res = await fila.fetch(`/tasks/${body.id}/events`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read(); // the history has started
    assert.equal(await streams(), 1);
    controller.abort();
    await reader.cancel().catch(() => {});
    let left = 1;
    for (let i = 0; i < 100 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      left = await streams();
    }
    assert.equal(left, 0);
    await fila.fetch(`/tasks/${body.id}`, { method: "DELETE" }).then((r) => r.body?.cancel());
  } finally {
    await fila.stop();
  }
});

Deno.test("hostile: lists and counts over many tasks read indexes, not the whole table", async () => {
  const fila = await startTestFila({ env: { ROLE: "api" } });
  try {
    const plan = async (sql: string, args: unknown[] = []) =>
      (await fila.sql.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, args))
        .map((r) => r.detail).join(" | ");
    // what GET /tasks?status=…, ?type=…, /queue/stats and a claim under limits run (the
    // status index leaves succeeded tasks out, so queries for other statuses repeat its condition)
    const byStatus = await plan(
      `SELECT * FROM tasks WHERE status IN (?) AND status <> 'succeeded'
       ORDER BY rowid DESC LIMIT 20 OFFSET 0`,
      ["failed"],
    );
    assert.match(byStatus, /USING INDEX tasks_status_idx/);
    assert.doesNotMatch(byStatus, /TEMP B-TREE/);
    const running = await plan(
      `SELECT count(*) FROM tasks WHERE status = 'running' AND status <> 'succeeded' AND +type = ?`,
      ["noop"],
    );
    assert.match(running, /USING INDEX tasks_status_idx \(status=\?\)/);
    const byType = await plan("SELECT * FROM tasks WHERE type = ? ORDER BY rowid DESC LIMIT 20", [
      "noop",
    ]);
    assert.match(byType, /USING INDEX tasks_type_idx/);
    assert.doesNotMatch(byType, /TEMP B-TREE/);
    assert.match(
      await plan(`SELECT status, count(*) FROM tasks WHERE status <> 'succeeded' GROUP BY status`),
      /USING COVERING INDEX tasks_status_idx/,
    );
    // succeeded tasks are counted as the rest of the whole count, from the smallest index
    assert.match(await plan("SELECT count(*) FROM tasks"), /COVERING INDEX/);
    assert.match(
      await plan("SELECT type, count(*) FROM tasks GROUP BY type"),
      /USING COVERING INDEX tasks_type_idx/,
    );
    assert.match(
      await plan(
        `SELECT (finished_at / 60000) * 60000 AS minute, status, count(*) FROM tasks
         WHERE finished_at >= ? GROUP BY minute, status`,
        [Date.now()],
      ),
      /USING COVERING INDEX tasks_finished_idx/,
    );
  } finally {
    await fila.stop();
  }
});
