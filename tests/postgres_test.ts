/**
 * What only a shared PostgreSQL store does: wake-ups that cross instances
 * (LISTEN/NOTIFY), surviving a PostgreSQL restart under load, migrations applied
 * once when instances start together, and a start with Deno Deploy's limits.
 * Each test gets its own database in this file's throw-away cluster.
 */
import assert from "node:assert/strict";
import {
  type ChildFila,
  clientFor,
  comboEnv,
  databaseUrl,
  type Json,
  postgresCluster,
  readTaskEvents,
  spawnFila,
  startTestFila,
  type StoreCombo,
  storeCombos,
  testEnv,
} from "./support/harness.ts";
import { openSql } from "./support/sql.ts";
// @ts-types="npm:@types/pg@^8.23.1"
import pg from "pg";
import { ConfigError, loadConfig } from "../config.ts";
import { EXECUTIONS_TABLE } from "./support/test_task_types.ts";

const [POSTGRES] = storeCombos("postgres/pg");
const [LIBSQL] = storeCombos("libsql/kv");
/** Long enough that no test here can be passed by the sweeper. */
const NO_SWEEP = "600000";

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "fila-pg-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function stopAll(children: ChildFila[]): Promise<void> {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
}

/**
 * GET /health unchecked against the OpenAPI document: a ROLE=worker instance serves
 * no document to check against (only /health and /metrics).
 */
async function healthOf(client: ReturnType<typeof clientFor>) {
  const res = await client.fetch("/health", { contract: false });
  return { status: res.status, body: await res.json() };
}

async function eventually<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve().then(probe).catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (POSTGRES) {
  Deno.test("wake-ups cross instances: 10 tasks submitted to an api instance run on a worker instance, with the sweeper out of the way", async () => {
    await withDir(async (dir) => {
      const env = { ...await comboEnv(POSTGRES, dir), SWEEP_INTERVAL_MS: NO_SWEEP };
      const children: ChildFila[] = [];
      try {
        children.push(await spawnFila({ ...env, ROLE: "api" }));
        children.push(await spawnFila({ ...env, ROLE: "worker" }));
        const [api, worker] = children;
        const http = clientFor(api.url!);
        const ran = async (ids: string[]) => {
          const done = await Promise.all(ids.map((id) => http.waitForTask(id)));
          for (const task of done) {
            assert.equal(task.status, "succeeded", JSON.stringify(task));
            assert.match(task.worker_id, new RegExp(`-${worker.pid}-`));
          }
        };
        // one at a time (each its own NOTIFY), then a batch of five (one NOTIFY for all)
        const singles: string[] = [];
        for (let n = 0; n < 5; n++) {
          singles.push((await http.post("/tasks", { type: "noop", payload: { n } })).body.id);
          await ran(singles.slice(-1));
        }
        const batch = await http.post("/tasks/batch", {
          tasks: Array.from({ length: 5 }, (_, n) => ({ type: "noop", payload: { n } })),
        });
        await ran(batch.body.tasks.map((t: Json) => t.id));
      } finally {
        await stopAll(children);
      }
    });
  });

  Deno.test("delayed tasks: each instance wakes by timer at the announced time, not by the sweeper — also for tasks announced before it listened", async () => {
    const dir = await Deno.makeTempDir({ prefix: "fila-pg-" });
    const env = { SWEEP_INTERVAL_MS: NO_SWEEP };
    const api = await startTestFila({ store: "postgres", driver: "pg", dir, env: { ROLE: "api" } });
    let worker;
    try {
      // announced while no worker listens: the worker reads these due times when it starts
      const early = await api.post("/tasks/batch", {
        tasks: [2_500, 3_000].map((delay_ms) => ({ type: "noop", delay_ms })),
      });
      worker = await startTestFila({ store: "postgres", driver: "pg", dir, env });
      const before = Date.now();
      const delays = [300, 600, 600, 900];
      const late = await worker.post("/tasks/batch", {
        tasks: delays.map((delay_ms) => ({ type: "noop", delay_ms })),
      });
      const done = await Promise.all(
        [...early.body.tasks, ...late.body.tasks].map((t: Json) => worker!.waitForTask(t.id)),
      );
      for (const task of done) assert.equal(task.status, "succeeded");
      for (const [i, task] of done.slice(2).entries()) {
        assert.ok(Date.parse(task.started_at) >= before + delays[i]);
      }
    } finally {
      await worker?.stop();
      await api.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });

  for (const mode of ["fast", "immediate"] as const) {
    Deno.test(`restart (${mode}) under load: every accepted task runs, no attempt twice, LISTEN and /health come back`, async () => {
      await withDir(async (dir) => {
        const env = {
          ...await comboEnv(POSTGRES, dir),
          LEASE_MS: "3000",
          SWEEP_INTERVAL_MS: "500",
          WORKER_CONCURRENCY: "4",
          LOG_LEVEL: "fatal",
        };
        const db = openSql(await databaseUrl("postgres", dir));
        const children: ChildFila[] = [];
        try {
          children.push(await spawnFila({ ...env, ROLE: "api" }));
          children.push(await spawnFila({ ...env, ROLE: "worker" }));
          await db.query(EXECUTIONS_TABLE);
          const [api, worker] = children.map((c) => clientFor(c.url!));
          const accepted = new Set<string>();
          let stopSubmitting = false;
          // a client that retries a refused submit with the same idempotency key, as clients should
          const producer = (async () => {
            for (let n = 0; !stopSubmitting || n < 200; n++) {
              for (;;) {
                const res = await api.post("/tasks", {
                  type: "test_record",
                  payload: { ms: 10 },
                  idempotency_key: `load-${n}`,
                }).catch(() => null);
                if (res && (res.status === 202 || res.status === 200)) {
                  accepted.add(res.body.id);
                  break;
                }
                await new Promise((r) => setTimeout(r, 50));
              }
              await new Promise((r) => setTimeout(r, 5));
            }
          })();
          await eventually(() => accepted.size >= 50 || undefined, "tasks to flow");
          await postgresCluster().restart(mode);
          await eventually(() => accepted.size >= 150 || undefined, "submits after restart");
          stopSubmitting = true;
          await producer;

          const ids = [...accepted];
          const left = await eventually(
            async () => {
              const [{ n }] = await db.query<{ n: number }>(
                `SELECT count(*) AS n FROM tasks WHERE type = 'test_record' AND status <> 'succeeded'`,
              );
              return Number(n) === 0 ? 0 : undefined;
            },
            "every accepted task to succeed",
            60_000,
          ).catch(async (error) => {
            // say which tasks were stuck and how, so a failure here can be read from its log
            const stuck = await db.query(
              `SELECT * FROM tasks WHERE type = 'test_record' AND status <> 'succeeded' LIMIT 5`,
            );
            throw new Error(`${error.message}: ${JSON.stringify(stuck)}`);
          });
          assert.equal(left, 0);
          for (const id of ids) {
            assert.equal((await api.get(`/tasks/${id}`)).body.status, "succeeded");
          }
          const twice = await db.query(
            `SELECT task_id, attempt, count(*) AS n FROM test_executions
              GROUP BY task_id, attempt HAVING count(*) > 1`,
          );
          assert.deepEqual(twice, [], "an attempt ran twice");
          const [{ n: executed }] = await db.query<{ n: number }>(
            "SELECT count(DISTINCT task_id) AS n FROM test_executions",
          );
          assert.equal(Number(executed), ids.length);

          for (const instance of [api, worker]) {
            const health = await eventually(async () => {
              const res = await healthOf(instance);
              return res.status === 200 ? res.body : undefined;
            }, "/health to answer 200");
            assert.equal(health.checks.db.ok, true);
          }
          // the worker's wake-up connection is back (the api-only instance has none)
          await eventually(async () => {
            const { body } = await healthOf(worker);
            return body.checks.db.wakeups === "listening" || undefined;
          }, "the worker to LISTEN again");
          assert.equal((await api.get("/health")).body.checks.db.wakeups, "off");
          // the worker LISTENs again after a restart: with its sweeper out of the way, only a
          // wake-up (or the look for work that follows a reconnect) can start new work
          await stopAll(children.splice(1));
          const listener = await spawnFila({ ...env, ROLE: "worker", SWEEP_INTERVAL_MS: NO_SWEEP });
          children.push(listener);
          await postgresCluster().restart(mode);
          const after = await eventually(async () => {
            const res = await api.post("/tasks", { type: "noop", payload: { n: 1 } });
            return res.status === 202 ? res.body.id as string : undefined;
          }, "a submit after the second restart");
          const done = await api.waitForTask(after, undefined, 30_000);
          assert.equal(done.status, "succeeded");
          assert.match(done.worker_id, new RegExp(`-${listener.pid}-`));
        } finally {
          await stopAll(children);
          await db.close();
        }
      });
    });
  }

  Deno.test("migrations: three instances starting at once on a fresh database apply them once", async () => {
    await withDir(async (dir) => {
      const fresh = await postgresCluster().createDatabase(); // not the harness's migrated copy
      const env = { ...testEnv(dir, "pg"), DATABASE_URL: fresh, LOG_LEVEL: "fatal" };
      const children = await Promise.all([0, 1, 2].map(() => spawnFila(env)));
      const db = openSql(fresh);
      try {
        for (const child of children) {
          assert.equal((await clientFor(child.url!).get("/health")).body.checks.db.ok, true);
        }
        const journal = JSON.parse(
          await Deno.readTextFile(
            new URL("../db/postgres/migrations/meta/_journal.json", import.meta.url),
          ),
        );
        const applied = await db.query<{ hash: string }>(
          "SELECT hash FROM drizzle.__drizzle_migrations",
        );
        assert.equal(applied.length, journal.entries.length);
        const { body } = await clientFor(children[2].url!).post("/tasks", { type: "noop" });
        const done = await clientFor(children[0].url!).waitForTask(body.id);
        assert.equal(done.status, "succeeded");
      } finally {
        await stopAll(children);
        await db.close();
      }
    });
  });

  Deno.test("Deploy-shaped start: --deny-ffi --deny-write --deny-run, in-memory KV, DENO_DEPLOYMENT_ID: healthy, pg driver, runs a task", async () => {
    await withDir(async (dir) => {
      const env = {
        ...await comboEnv(POSTGRES, dir),
        KV_PATH: ":memory:",
        DENO_DEPLOYMENT_ID: "fila-test-deployment",
        CRON_ENABLED: "false",
        QUEUE_DRIVER: "auto",
      };
      const child = await spawnFila(env, 30_000, ["--deny-ffi", "--deny-write", "--deny-run"]);
      try {
        const http = clientFor(child.url!);
        const health = await http.get("/health");
        assert.equal(health.status, 200, JSON.stringify(health.body));
        assert.equal(health.body.checks.db.store, "postgres");
        assert.equal(health.body.checks.kv.driver, "pg");
        const { body } = await http.post("/tasks", {
          type: "uppercase",
          payload: { text: "deploy" },
        });
        const done = await http.waitForTask(body.id);
        assert.deepEqual(done.result, { text: "DEPLOY" });
      } finally {
        await stopAll([child]);
      }
    });
  });

  Deno.test("an outage longer than the lease: a lone worker's end that could not be written lands once PostgreSQL is back", async () => {
    // one instance: no other sweeper would requeue its task, and its own keeps the tasks it still
    // owes an end (requeued, the attempt would run again)
    const fila = await startTestFila({
      store: "postgres",
      driver: "pg",
      env: { LEASE_MS: "1000", SWEEP_INTERVAL_MS: "200", LOG_LEVEL: "fatal" },
    });
    try {
      const { body } = await fila.post("/tasks", { type: "test_sleep", payload: { ms: 300 } });
      await fila.waitForTask(body.id, (t) => t.status === "running");
      await postgresCluster().down("fast");
      await new Promise((r) => setTimeout(r, 2_500)); // the attempt ends meanwhile, unrecorded
      await postgresCluster().up();
      const done = await eventually(
        async () => {
          const res = await fila.get(`/tasks/${body.id}`);
          return res.status === 200 && res.body.status !== "running" ? res.body : undefined;
        },
        "the task to leave running",
        20_000,
      );
      assert.equal(done.status, "succeeded", JSON.stringify(done));
      assert.equal(done.attempts, 1, "its attempt ran once");
    } finally {
      await fila.stop();
    }
  });

  Deno.test("DATABASE_LOCK_WAIT_MS: a write waits that long for a row another transaction holds, then is a 503", async () => {
    const fila = await startTestFila({
      store: "postgres",
      driver: "pg",
      env: { DATABASE_LOCK_WAIT_MS: "400", ROLE: "api" },
    });
    const holder = new pg.Client({ connectionString: fila.instance.config.DATABASE_URL });
    await holder.connect();
    try {
      const hold = async (id: string, ms: number) => {
        await holder.query("BEGIN");
        await holder.query("SELECT id FROM tasks WHERE id = $1 FOR UPDATE", [id]);
        setTimeout(() => holder.query("COMMIT"), ms);
      };
      const task = async () =>
        (await fila.post("/tasks", { type: "noop", delay_ms: 60_000 })).body.id as string;
      // held 150 ms: the cancel waits, then goes through
      const brief = await task();
      await hold(brief, 150);
      const waited = await fila.fetch(`/tasks/${brief}`, { method: "DELETE" });
      assert.equal(waited.status, 200, await waited.text());
      // held past the wait: 503, and the task is as it was
      const long = await task();
      await hold(long, 1_500);
      const started = Date.now();
      const refused = await fila.fetch(`/tasks/${long}`, { method: "DELETE" });
      const tookMs = Date.now() - started;
      assert.equal(refused.status, 503, await refused.text());
      assert.ok(tookMs >= 350 && tookMs < 1_400, `answered after ${tookMs} ms`);
      await new Promise((r) => setTimeout(r, 1_300));
      assert.equal((await fila.get(`/tasks/${long}`)).body.status, "scheduled");
    } finally {
      await holder.end();
      await fila.stop();
    }
  });
}

if (POSTGRES && LIBSQL) {
  Deno.test("both stores answer the API alike: task views and histories match field for field", async () => {
    const requests = [
      { type: "uppercase", payload: { text: "olá", note: "key order kept", a: 1 } },
      { type: "sum", payload: { numbers: [0.1, 0.2, 1e21] } },
      { type: "noop", payload: {} },
      { type: "test_sleep", payload: { ms: 1 }, priority: "high", result_ttl_s: 60 },
      { type: "test_always_fails", max_attempts: 1 },
      { title: "Write it", payload: { duration_ms: 5 } },
    ];
    const views = async (combo: StoreCombo) => {
      const fila = await startTestFila({ store: combo.store, driver: combo.driver });
      try {
        const answers = [];
        for (const request of requests) {
          const created = await fila.fetch("/tasks", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(request),
          });
          const submitted = await created.text();
          const { id } = JSON.parse(submitted);
          await fila.waitForTask(id);
          const done = await (await fila.fetch(`/tasks/${id}`)).text();
          const events = (await readTaskEvents(fila.url, id)).map((e: Json) =>
            normalise(JSON.stringify([e.status, e.progress, e.message]), fila.instance.instanceId)
          );
          answers.push({
            submitted: normalise(submitted, fila.instance.instanceId),
            done: normalise(done, fila.instance.instanceId),
            events,
          });
        }
        const list = await fila.fetch("/tasks?limit=100");
        answers.push({ list: normalise(await list.text(), fila.instance.instanceId) });
        return answers;
      } finally {
        await fila.stop();
      }
    };
    assert.deepEqual(await views(POSTGRES), await views(LIBSQL));
  });
}

/** An answer's text with what differs by nature (ids, times, instance names, run time) masked. */
function normalise(text: string, instanceId: string): string {
  return text
    .replaceAll(instanceId, "<instance>")
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<id>")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "<time>")
    .replace(/"(slept_ms|worked_ms)":\d+/g, '"$1":<n>');
}

Deno.test("QUEUE_DRIVER=pg on a libSQL database stops start-up, naming the setting", () => {
  assert.throws(
    () => loadConfig({ QUEUE_DRIVER: "pg", DATABASE_URL: "file:./data/fila.db" }),
    (error: unknown) =>
      error instanceof ConfigError && /QUEUE_DRIVER: .*postgres:\/\//.test(error.message),
  );
  assert.equal(
    loadConfig({ QUEUE_DRIVER: "pg", DATABASE_URL: "postgresql://u@h/db" }).QUEUE_DRIVER,
    "pg",
  );
});
