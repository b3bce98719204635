import assert from "node:assert/strict";
import {
  nextMinute,
  refreshTick,
  startTestFila,
  type StoreCombo,
  storeCombos,
} from "./support/harness.ts";
import {
  RECENT_READING_SECONDS as T0,
  startFakeAwesomeApi,
  startWithFakeUpstream,
  TEST_PAIRS,
} from "./support/fake_awesomeapi.ts";

const PAIRS = TEST_PAIRS;

function setup(combo: StoreCombo, env: Record<string, string> = {}) {
  return startWithFakeUpstream({ QUOTES_TIMEOUT_MS: "300", ...env }, combo);
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] quotes: a refresh stores every pair with numbers and UTC times; the same reading twice keeps one row`, async () => {
    const { upstream, fila, stop } = await setup(combo);
    try {
      const before = await fila.get("/currency");
      assert.equal(before.status, 404);
      assert.match(before.body.error.message, /no USD-BRL quote stored yet/);

      upstream.setReading("USD-BRL", { bid: 5.1234, ask: 5.1244, timestamp: T0 + 123 });
      upstream.setReading("BTC-BRL", { bid: 612_345.5, ask: 612_400, timestamp: T0 + 100 });
      const tick = nextMinute();
      const { id } = await refreshTick(fila.instance, tick).then((r) => r!);
      const task = await fila.waitForTask(id);
      assert.equal(task.status, "succeeded", JSON.stringify(task));
      assert.equal(
        task.idempotency_key,
        `schedule:refresh_quotes:${tick.toISOString().slice(0, 16)}Z`,
      );

      const usd = await fila.get("/currency");
      assert.equal(usd.status, 200);
      assert.equal(usd.body.pair, "USD-BRL");
      assert.equal(usd.body.code, "USD");
      assert.equal(usd.body.codein, "BRL");
      assert.equal(usd.body.bid, 5.1234);
      assert.equal(usd.body.ask, 5.1244);
      assert.equal(typeof usd.body.var_bid, "number");
      assert.equal(usd.body.timestamp, new Date((T0 + 123) * 1000).toISOString());
      // create_date is São Paulo local time upstream; stored as the same instant in UTC
      assert.equal(usd.body.create_date, new Date((T0 + 123) * 1000).toISOString());
      for (const key of ["id", "name", "high", "low", "created_at", "updated_at", "pct_change"]) {
        assert.ok(key in usd.body, key);
      }
      assert.equal((await fila.get("/currency/?pair=btc-brl")).body.bid, 612_345.5);
      assert.equal((await fila.get("/api/v1/currency?pair=EUR-BRL")).status, 200);

      // the same reading again: still one row, updated_at moves
      await new Promise((r) => setTimeout(r, 5));
      const again = await fila.get("/currency/latest");
      assert.equal(again.status, 200);
      assert.equal(again.body.id, usd.body.id);
      assert.ok(again.body.updated_at > usd.body.updated_at);
      const history = await fila.get("/currency/history?pair=USD-BRL");
      assert.equal(history.body.count, 1);

      // a new reading is a new row, newest first in history
      upstream.setReading("USD-BRL", { bid: 5.2, timestamp: T0 + 183 });
      await fila.get("/currency/latest");
      const newer = await fila.get("/currency/history?pair=USD-BRL&limit=10");
      assert.equal(newer.body.count, 2);
      assert.equal(newer.body.quotes[0].bid, 5.2);
      const ranged = await fila.get(
        `/currency/history?pair=USD-BRL&to=${new Date((T0 + 150) * 1000).toISOString()}`,
      );
      assert.equal(ranged.body.count, 1);
      assert.equal((await fila.get("/currency")).body.bid, 5.2);
      assert.deepEqual((await fila.get("/currency/pairs")).body, { pairs: PAIRS.split(",") });
    } finally {
      await stop();
    }
  });
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] quotes: unknown pairs and bad ranges are 400s naming the configured pairs`, async () => {
    const { fila, stop } = await setup(combo);
    try {
      for (
        const path of [
          "/currency?pair=XXX-YYY",
          "/currency/latest?pair=GBP-BRL",
          "/currency/history?pair=nope",
        ]
      ) {
        const res = await fila.get(path);
        assert.equal(res.status, 400, path);
        assert.match(res.body.error.message, /USD-BRL, EUR-BRL, BTC-BRL/);
      }
      assert.equal((await fila.get("/currency/history?from=yesterday")).status, 400);
      assert.equal((await fila.get("/currency/history?limit=0")).status, 400);
    } finally {
      await stop();
    }
  });
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] cron: the same tick twice, on one instance or two sharing files, makes one refresh task`, async () => {
    const upstream = startFakeAwesomeApi();
    const dir = await Deno.makeTempDir({ prefix: "fila-cron-" });
    const env = { QUOTES_API_URL: upstream.url, QUOTE_PAIRS: PAIRS };
    const a = await startTestFila({ store: combo.store, driver: combo.driver, dir, env });
    const b = await startTestFila({ store: combo.store, driver: combo.driver, dir, env });
    try {
      const tick = nextMinute();
      // (a tick that finds the minute already run submits nothing)
      const results = (await Promise.all([
        refreshTick(a.instance, tick),
        refreshTick(a.instance, tick),
        refreshTick(b.instance, tick),
      ])).filter((r) => r !== null);
      assert.equal(new Set(results.map((r) => r.id)).size, 1);
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(await refreshTick(b.instance, tick), null);
      const next = (await refreshTick(b.instance, nextMinute(tick.getTime())))!;
      assert.notEqual(next.id, results[0].id);
      const list = await a.get("/tasks?type=refresh_quotes");
      assert.equal(list.body.total, 2);
      await a.waitForTask(results[0].id);
    } finally {
      await a.stop();
      await b.stop();
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] quotes: upstream faults retry with backoff, /currency/latest says why with 502, stored quote still served`, async () => {
    // backoff from 300 ms: on a busy machine, the health check below must fit before the last attempt
    const { upstream, fila, stop } = await setup(combo, { RETRY_BASE_MS: "300" });
    try {
      await fila.get("/currency/latest");
      const stored = (await fila.get("/currency")).body;
      const faults: [string, RegExp][] = [
        ["slow", /did not answer within 300 ms/],
        ["error500", /answered 500/],
        ["html", /other than JSON/],
        ["missing_pair", /no BTC-BRL in its answer/],
        ["rate_limited", /429/],
      ];
      for (const [mode, reason] of faults) {
        upstream.mode = mode as typeof upstream.mode;
        const res = await fila.get("/currency/latest");
        assert.equal(res.status, 502, mode);
        assert.equal(res.body.error.code, "upstream_failed");
        assert.match(res.body.error.message, reason);
        const still = await fila.get("/currency");
        assert.equal(still.status, 200);
        assert.equal(still.body.id, stored.id);
      }
      upstream.mode = "error500";
      const { body } = await fila.post("/tasks", { type: "refresh_quotes" });
      const retrying = await fila.waitForTask(
        body.id,
        (t) => t.attempts >= 2 && t.status === "retrying",
      );
      assert.match(retrying.error, /answered 500/);
      const health = await fila.get("/health");
      assert.equal(health.status, 200);
      assert.equal(health.body.status, "degraded");
      assert.match(health.body.checks.quotes.last_refresh_error, /answered 500/);
      upstream.mode = "ok";
      const done = await fila.waitForTask(body.id, undefined, 15_000);
      assert.equal(done.status, "succeeded");
      assert.ok(done.attempts >= 3);
      const healthy = await fila.get("/health");
      assert.equal(healthy.body.checks.quotes.ok, true);

      // a 429 waits at least its Retry-After before the next attempt
      upstream.mode = "rate_limited";
      upstream.retryAfterSeconds = 1;
      const limited = await fila.post("/tasks", { type: "refresh_quotes" });
      const waiting = await fila.waitForTask(limited.body.id, (t) => t.status === "retrying");
      const updated = Date.parse(waiting.updated_at);
      assert.ok(
        Date.parse(waiting.run_at) - updated >= 990,
        `${waiting.run_at} vs ${waiting.updated_at}`,
      );
    } finally {
      await stop();
    }
  });
}
