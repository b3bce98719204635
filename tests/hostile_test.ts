/**
 * Requests an attacker or a confused client would send: invented methods that
 * must not grow the metrics, HEAD and dropped streams that must not leave
 * loops behind, lists over a large store that must read an index.
 */
import assert from "node:assert/strict";
import type { InArgs, InStatement } from "@libsql/client";
import type { LibsqlStore } from "../db/libsql/connect.ts";
import { type Json, startTestFila } from "./support/harness.ts";

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

Deno.test("hostile: every statement the libSQL store runs on a status reads an index, never the whole table", async () => {
  const fila = await startTestFila();
  // the statements the store itself sends, as sent (its own client, wrapped in place)
  const client = (fila.instance.store as LibsqlStore).db.$client;
  const seen = new Map<string, InArgs | undefined>();
  const note = (stmt: InStatement | [string, InArgs?] | string, args?: InArgs) => {
    if (typeof stmt === "string") seen.set(stmt, args);
    else if (Array.isArray(stmt)) seen.set(stmt[0], stmt[1]);
    else seen.set(stmt.sql, stmt.args);
  };
  const { execute, batch } = client;
  const run = execute.bind(client) as (stmt: InStatement | string, args?: InArgs) => unknown;
  client.execute = ((stmt: InStatement | string, args?: InArgs) => {
    note(stmt, args);
    return run(stmt, args);
  }) as typeof client.execute;
  client.batch = ((stmts: (InStatement | [string, InArgs?])[], mode) => {
    for (const stmt of stmts) note(stmt);
    return batch.call(client, stmts, mode);
  }) as typeof client.batch;
  try {
    // a claim under a type's concurrency limit, ends, a failure, waiting tasks, sweeps
    const limited = await fila.fetch("/task-types/noop", {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ concurrency: 2 }),
    });
    assert.equal(limited.status, 200, await limited.text());
    const { body } = await fila.post("/tasks/batch", {
      tasks: [
        ...Array.from({ length: 5 }, () => ({ type: "noop" })),
        { type: "test_always_fails", payload: { unrecoverable: true } },
      ],
    });
    await Promise.all(body.tasks.map((t: Json) => fila.waitForTask(t.id)));
    await fila.post("/tasks", { type: "noop", delay_ms: 3_600_000 });
    await new Promise((r) => setTimeout(r, 600)); // two sweeps (every 250 ms here)
    // the reads of GET /tasks?status=…, ?type=…, /queue/stats and /task-types
    for (
      const path of ["/tasks?status=failed", "/tasks?type=noop", "/queue/stats", "/task-types"]
    ) {
      assert.equal((await fila.get(path)).status, 200, path);
    }
    const onStatus = [...seen].filter(([sql]) =>
      /\btasks\b/.test(sql) &&
      /'(running|blocked|scheduled|queued|retrying|failed)'|"status" in/.test(sql)
    );
    assert.ok(onStatus.length >= 8, `only ${onStatus.length} statements on a status seen`);
    for (const [sql, args] of onStatus) {
      const plan = (await fila.sql.query<{ detail: string }>(
        `EXPLAIN QUERY PLAN ${sql}`,
        (Array.isArray(args) ? args : []) as unknown[],
      )).map((r) => r.detail).join(" | ");
      assert.doesNotMatch(plan, /SCAN tasks(?! USING)/, `reads the whole table: ${sql}\n${plan}`);
    }
  } finally {
    client.execute = execute;
    client.batch = batch;
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
