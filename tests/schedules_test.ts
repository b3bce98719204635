/**
 * Recurring schedules over the API: created, replaced, listed with their next
 * run, refused when invalid (naming the field), fired once per tick across
 * instances, made up once after downtime, paused, resumed, triggered; the
 * quote refresh is a built-in one.
 */
import assert from "node:assert/strict";
import { type Json, nextMinute, startTestFila, storeCombos } from "./support/harness.ts";

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] schedules: PUT creates and replaces, GET shows next_run_at in the schedule's time zone, bad fields are 400s naming them`, async () => {
    const fila = await startTestFila({
      store: combo.store,
      driver: combo.driver,
      env: { ROLE: "api" },
    });
    try {
      const created = await fila.fetch("/schedules/nightly-sum", {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          cron: "30 3 * * *",
          type: "sum",
          payload: { numbers: [1, 2] },
          timezone: "America/Sao_Paulo",
          priority: "low",
        }),
      });
      assert.equal(created.status, 201);
      const body = await created.json();
      assert.equal(body.name, "nightly-sum");
      assert.equal(body.builtin, false);
      assert.equal(body.priority, "low");
      // 03:30 in São Paulo is 06:30 UTC
      assert.match(body.next_run_at, /T06:30:00\.000Z$/);
      assert.equal(body.last_run_at, null);
      const put = (b: unknown, name = "nightly-sum") =>
        fila.fetch(`/schedules/${name}`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(b),
        }).then(async (r) => ({ status: r.status, body: await r.json() }));
      const replaced = await put({ cron: "*/5 * * * *", type: "noop" });
      assert.equal(replaced.status, 200);
      assert.equal(replaced.body.created_at, body.created_at);
      assert.equal(replaced.body.timezone, "UTC");
      const field = async (b: unknown) => (await put(b)).body.error.details.issues[0].path;
      assert.equal(await field({ cron: "garbage", type: "noop" }), "cron");
      assert.equal(await field({ cron: "61 * * * *", type: "noop" }), "cron");
      assert.equal(await field({ cron: "* * * * *", type: "nope" }), "type");
      assert.equal(
        await field({ cron: "* * * * *", type: "sum", payload: { numbers: ["x"] } }),
        "payload.numbers.0",
      );
      assert.equal(
        await field({ cron: "* * * * *", type: "noop", timezone: "Mars/Olympus" }),
        "timezone",
      );
      assert.equal((await put({ cron: "* * * * *", type: "noop" }, "Bad Name!")).status, 400);
      const list = await fila.get("/schedules");
      const names = list.body.schedules.map((s: Json) => s.name);
      assert.deepEqual(names, ["nightly-sum", "refresh_quotes"]);
      const builtin = list.body.schedules[1];
      assert.equal(builtin.builtin, true);
      assert.equal(builtin.cron, "* * * * *");
      assert.equal((await put({ cron: "* * * * *", type: "noop" }, "refresh_quotes")).status, 409);
      assert.equal(
        await fila.fetch("/schedules/refresh_quotes", { method: "DELETE" }).then(async (
          r,
        ) => (await r.body?.cancel(), r.status)),
        409,
      );
      const gone = await fila.fetch("/schedules/nightly-sum", { method: "DELETE" });
      assert.equal(gone.status, 200);
      await gone.body?.cancel();
      assert.equal((await fila.get("/schedules/nightly-sum")).status, 404);
    } finally {
      await fila.stop();
    }
  });
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] schedules: one task per tick across instances, none while paused, one for a long outage, and trigger runs at once`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fila-sched-" });
    const a = await startTestFila({ store: combo.store, driver: combo.driver, dir });
    const b = await startTestFila({ store: combo.store, driver: combo.driver, dir });
    const put = (name: string, body: unknown) =>
      a.fetch(`/schedules/${name}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then((r) => r.body?.cancel());
    try {
      await put("every-minute", { cron: "* * * * *", type: "noop", payload: { n: 7 } });
      const tick = nextMinute();
      await Promise.all([a.instance.scheduler.tick(tick), b.instance.scheduler.tick(tick)]);
      const key = `schedule:every-minute:${tick.toISOString().slice(0, 16)}Z`;
      const runs = await a.sql.query("SELECT id FROM tasks WHERE idempotency_key = ?", [key]);
      assert.equal(runs.length, 1);
      const schedule = (await a.get("/schedules/every-minute")).body;
      assert.equal(schedule.last_run_at, tick.toISOString());
      assert.equal(schedule.last_task_id, runs[0].id);
      assert.deepEqual((await a.waitForTask(runs[0].id as string)).result, 8);

      // paused: the next tick runs nothing
      assert.equal((await a.post("/schedules/every-minute/pause")).body.paused, true);
      assert.equal((await a.get("/schedules/every-minute")).body.next_run_at, null);
      const later = nextMinute(tick.getTime());
      await b.instance.scheduler.tick(later);
      assert.equal((await a.get("/tasks?type=noop")).body.total, 1);
      // trigger runs now, paused or not
      const triggered = await a.post("/schedules/every-minute/trigger");
      assert.equal(triggered.status, 202);
      assert.equal((await a.waitForTask(triggered.body.id)).result, 8);
      await a.post("/schedules/every-minute/resume");

      // everything was down for three hours: the schedule runs once, for the latest minute
      const outage = new Date(later.getTime() + 3 * 3_600_000);
      await a.sql.query("UPDATE schedules SET last_run_at = ? WHERE name = 'every-minute'", [
        later.getTime(),
      ]);
      const before = (await a.get("/tasks?type=noop")).body.total;
      await Promise.all([a.instance.scheduler.tick(outage), b.instance.scheduler.tick(outage)]);
      assert.equal((await a.get("/tasks?type=noop")).body.total, before + 1);
      await a.instance.scheduler.tick(outage);
      assert.equal((await a.get("/tasks?type=noop")).body.total, before + 1);
    } finally {
      await a.stop();
      await b.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
