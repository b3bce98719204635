import assert from "node:assert/strict";
import {
  type ChildFila,
  clientFor,
  comboEnv,
  databaseUrl,
  nextMinute,
  spawnFila,
  storeCombos,
} from "./support/harness.ts";
import { EXECUTIONS_TABLE } from "./support/test_task_types.ts";
import { openSql } from "./support/sql.ts";
import { startFakeAwesomeApi } from "./support/fake_awesomeapi.ts";

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] many instances: 3,000 tasks over 3 instances, one SIGKILLed, one SIGTERMed — all done, once per attempt, one refresh per tick`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fila-multi-" });
    const upstream = startFakeAwesomeApi();
    // a tick after the instances exist: a schedule fires only for ticks after it was made, and
    // the built-in one is made by the first instance to start (the next minute may come first)
    const tick = nextMinute(Date.now() + 30_000).toISOString();
    const env = {
      ...await comboEnv(combo, dir),
      LEASE_MS: "2000",
      SWEEP_INTERVAL_MS: "200",
      SHUTDOWN_GRACE_MS: "300",
      WORKER_CONCURRENCY: "8",
      LOG_LEVEL: "fatal",
      QUOTES_API_URL: upstream.url,
      FILA_TEST_CRON_TICK: tick,
    };
    const children: ChildFila[] = [];
    const db = openSql(await databaseUrl(combo.store, dir));
    const count = async (sql: string, args: unknown[] = []) =>
      Number((await db.query<{ n: number }>(sql, args))[0].n);
    try {
      // made before the instances start: three processes racing to make it can collide
      await db.query(EXECUTIONS_TABLE);
      for (let i = 0; i < 3; i++) children.push(await spawnFila(env));
      const apis = children.map((c) => clientFor(c.url!));
      const ids: string[] = [];
      await Promise.all(apis.map(async (api) => {
        const { status, body } = await api.post("/tasks/batch", {
          tasks: Array.from(
            { length: 1_000 },
            // 50 ms each, ~6 s of work for the 24 slots: at 20 ms, on a loaded machine, most
            // of the work could be done by the time the three submissions returned, and the
            // victim killed with nothing left to rescue (the suite failed so once)
            () => ({ type: "test_record", payload: { ms: 50 } }),
          ),
        });
        assert.equal(status, 202);
        ids.push(...body.tasks.map((t: { id: string }) => t.id));
      }));
      assert.equal(ids.length, 3_000);

      // kill one mid-run, once a task it is running has started executing there
      const victim = children[1];
      for (let i = 0; i < 500; i++) {
        const started = await count(
          `SELECT count(*) AS n FROM tasks t JOIN test_executions e
             ON e.task_id = t.id AND e.attempt = t.attempts AND e.pid = ?
           WHERE t.status = 'running' AND t.worker_id LIKE ?`,
          [victim.pid, `%-${victim.pid}-%`],
        ).catch(() => 0); // test_executions may not exist yet
        if (started > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      victim.kill("SIGKILL");
      await victim.exited;
      // and stop another gracefully while it is busy
      const stopped = children[2];
      stopped.kill("SIGTERM");
      assert.equal((await stopped.exited).code, 0);
      const leftRunning = await count(
        "SELECT count(*) AS n FROM tasks WHERE status = 'running' AND worker_id LIKE ?",
        [`%-${stopped.pid}-%`],
      );
      assert.equal(leftRunning, 0, "SIGTERM left tasks running");

      const deadline = Date.now() + 60_000;
      let done = 0;
      while (Date.now() < deadline) {
        done = await count(
          "SELECT count(*) AS n FROM tasks WHERE type = 'test_record' AND status = 'succeeded'",
        );
        if (done === 3_000) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(done, 3_000, "not every task finished");
      const twice = await db.query(
        `SELECT task_id, attempt, count(*) AS n FROM test_executions GROUP BY task_id, attempt
         HAVING count(*) > 1`,
      );
      assert.equal(
        twice.length,
        0,
        `executed twice in one attempt: ${JSON.stringify(twice.slice(0, 3))}`,
      );
      const rescued = await count(
        `SELECT count(DISTINCT e.task_id) AS n FROM test_executions e JOIN tasks t ON t.id = e.task_id
         WHERE e.pid = ? AND t.worker_id NOT LIKE ?`,
        [victim.pid, `%-${victim.pid}-%`],
      );
      assert.ok(rescued > 0, "no task of the killed instance was finished by another");
      assert.equal(await count("SELECT count(DISTINCT task_id) AS n FROM test_executions"), 3_000);
      const refreshes = await count(
        "SELECT count(*) AS n FROM tasks WHERE type = 'refresh_quotes' AND idempotency_key = ?",
        [`schedule:refresh_quotes:${tick.slice(0, 16)}Z`],
      );
      assert.equal(refreshes, 1, "one refresh per tick across instances");
    } finally {
      for (const c of children) c.kill("SIGKILL");
      await Promise.all(children.map((c) => c.exited));
      await db.close();
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
