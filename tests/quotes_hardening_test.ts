import assert from "node:assert/strict";
import {
  type Json,
  nextMinute,
  refreshTick,
  startTestFila,
  type StoreCombo,
  storeCombos,
  type TestFila,
} from "./support/harness.ts";
import {
  RECENT_READING_SECONDS as T0,
  startFakeAwesomeApi,
  startWithFakeUpstream,
  TEST_PAIRS,
} from "./support/fake_awesomeapi.ts";
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from "../tasks/clients/quotes_client.ts";
import { toQuoteView } from "../routes/views.ts";

const PAIRS = TEST_PAIRS;
const HOUR_MS = 3_600_000;

function setup(env: Record<string, string> = {}, combo?: StoreCombo) {
  return startWithFakeUpstream({ QUOTES_TIMEOUT_MS: "3000", ...env }, combo);
}

/** Waits until a task has stopped running: final, or waiting for a retry. */
function settled(fila: TestFila, id: string): Promise<Json> {
  return fila.waitForTask(id, (t) => !["queued", "scheduled", "running"].includes(t.status));
}

/** Stores a quote row as it is, unchecked, as an older Fila would have. */
async function storeRaw(fila: TestFila, pair: string, timestampMs: number, bid: number) {
  const now = Date.now();
  await fila.sql.query(
    `INSERT INTO quotes (pair, code, codein, name, high, low, bid, ask, var_bid, pct_change,
            timestamp, create_date, created_at, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)`,
    [
      pair,
      pair.slice(0, 3),
      pair.slice(4),
      pair,
      bid,
      bid,
      bid,
      bid,
      timestampMs,
      new Date(now).toISOString(),
      now,
      now,
    ],
  );
}

Deno.test("quotes: readings dated in the future (9000000000000, milliseconds) are refused; good pairs are stored and reads keep working", async () => {
  const { upstream, fila, stop } = await setup();
  try {
    upstream.setReading("USD-BRL", { timestamp: "9000000000000" });
    upstream.setReading("BTC-BRL", { timestamp: Date.now() });
    upstream.setReading("EUR-BRL", { bid: 6.1, ask: 6.2, timestamp: T0 + 60 });
    const { id } = (await refreshTick(fila.instance))!;
    const failed = await settled(fila, id);
    assert.equal(failed.status, "failed", JSON.stringify(failed));
    assert.equal(failed.attempts, 1, "the same answer is not asked for again at once");
    assert.match(failed.error, /USD-BRL reading from the future: timestamp 9000000000000/);
    assert.match(failed.error, /BTC-BRL reading from the future: .*milliseconds, not seconds/);
    assert.match(failed.error, /stored EUR-BRL/);

    const usd = await fila.get("/currency");
    assert.equal(usd.status, 404, JSON.stringify(usd.body));
    assert.match(usd.body.error.message, /the last refresh failed: .*reading from the future/);
    const eur = await fila.get("/currency?pair=EUR-BRL");
    assert.equal(eur.status, 200);
    assert.equal(eur.body.bid, 6.1);
    const history = await fila.get("/currency/history?pair=USD-BRL");
    assert.equal(history.status, 200);
    assert.equal(history.body.count, 0);
    const fetchNow = await fila.get("/currency/latest?pair=EUR-BRL");
    assert.equal(fetchNow.status, 502);
    assert.match(fetchNow.body.error.message, /refused .*USD-BRL/);

    // stale, non-positive and out-of-scale readings are refused as well
    upstream.setReading("USD-BRL", { timestamp: T0 - 40 * 86_400 });
    upstream.setReading("BTC-BRL", { timestamp: T0, bid: 612_000, ask: 6_120_000 });
    upstream.setReading("EUR-BRL", { timestamp: T0, bid: -1 });
    const bad = await fila.get("/currency/latest");
    assert.equal(bad.status, 502);
    assert.match(
      bad.body.error.message,
      /stale USD-BRL reading: timestamp \d+ is more than 30 days/,
    );
    assert.match(bad.body.error.message, /implausible BTC-BRL reading \(bid and ask more than/);
    assert.match(bad.body.error.message, /implausible EUR-BRL reading \(prices must be positive/);

    // a good reading is taken again
    upstream.setReading("USD-BRL", { bid: 5.5, ask: 5.51, timestamp: T0 + 120 });
    upstream.setReading("BTC-BRL", { bid: 612_000, ask: 612_100 });
    upstream.setReading("EUR-BRL", { bid: 6.1 });
    const good = await fila.get("/currency/latest");
    assert.equal(good.status, 200, JSON.stringify(good.body));
    assert.equal(good.body.bid, 5.5);
    assert.equal(good.body.timestamp, new Date((T0 + 120) * 1000).toISOString());
  } finally {
    await stop();
  }
});

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] quotes: bad rows already stored (far future, milliseconds) never make /currency, ?pair= or /currency/history fail`, async () => {
    const { fila, stop } = await setup({}, combo);
    try {
      await storeRaw(fila, "USD-BRL", T0 * 1000, 5.4);
      await storeRaw(fila, "USD-BRL", 9_000_000_000_000 * 1000, 999); // past Date's range
      await storeRaw(fila, "USD-BRL", Date.now() * 1000, 998); // milliseconds taken as seconds
      await storeRaw(fila, "EUR-BRL", 9_000_000_000_000 * 1000, 997); // nothing good for EUR
      for (
        const path of ["/currency", "/currency?pair=USD-BRL", "/api/v1/currency/?pair=usd-brl"]
      ) {
        const res = await fila.get(path);
        assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.bid, 5.4, "a future-dated row is not the latest");
        assert.equal(res.body.timestamp, new Date(T0 * 1000).toISOString());
      }
      const eur = await fila.get("/currency?pair=EUR-BRL");
      assert.equal(eur.status, 404, JSON.stringify(eur.body));
      for (
        const path of [
          "/currency/history?pair=USD-BRL",
          "/currency/history?pair=USD-BRL&to=9999-12-31T23:59:59Z",
          `/currency/history?pair=USD-BRL&from=${new Date(T0 * 1000).toISOString()}`,
          "/currency/history?pair=EUR-BRL",
        ]
      ) {
        const res = await fila.get(path);
        assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
        assert.deepEqual(
          res.body.quotes.map((q: Json) => q.bid),
          path.includes("EUR") ? [] : [5.4],
        );
      }
      // and should such a row reach the view, it is shown, not thrown on
      const view = toQuoteView({
        id: 1,
        pair: "EUR-BRL",
        code: "EUR",
        codein: "BRL",
        name: "EUR-BRL",
        high: 1,
        low: 1,
        bid: 1,
        ask: 1,
        varBid: null,
        pctChange: null,
        timestamp: 9_000_000_000_000 * 1000,
        createDate: "x",
        createdAt: Date.now(),
        updatedAt: Date.now(),
      });
      assert.equal(view.timestamp, null); // no such date: shown as unknown
    } finally {
      await stop();
    }
  });
}

Deno.test("quotes: Retry-After is capped at an hour and read back as 60 s when unreadable", () => {
  assert.equal(parseRetryAfter("999999999"), MAX_RETRY_AFTER_MS);
  assert.equal(parseRetryAfter(new Date(Date.now() + 30 * 86_400_000).toUTCString()), HOUR_MS);
  assert.equal(parseRetryAfter("2"), 2_000);
  assert.equal(parseRetryAfter("-5"), 0);
  assert.equal(parseRetryAfter("soon"), 60_000);
  assert.equal(parseRetryAfter(null), 60_000);
});

Deno.test("quotes: a 429 with Retry-After 999999999 ends the tick's refresh; later ticks and fetch-now skip the upstream until the capped wait ends", async () => {
  const { upstream, fila, stop } = await setup();
  try {
    upstream.mode = "rate_limited";
    upstream.retryAfterSeconds = 999_999_999;
    const before = Date.now();
    const first = (await refreshTick(fila.instance))!;
    const ended = await settled(fila, first.id);
    assert.equal(ended.status, "failed", `not left retrying until 2058: ${JSON.stringify(ended)}`);
    assert.equal(ended.attempts, 1);
    assert.match(ended.error, /rate-limited us \(429\).*this refresh gives up/);
    const until = Date.parse(ended.error.match(/asked to wait until (\S+),/)[1]);
    assert.ok(until - before <= HOUR_MS + 5_000, `wait capped at an hour: ${ended.error}`);
    assert.equal(upstream.requests, 1);

    // the next tick knows: it does not call, and ends at once with the reason
    const next = (await refreshTick(fila.instance, nextMinute(Date.now() + 60_000)))!;
    const skipped = await settled(fila, next.id);
    assert.equal(skipped.status, "succeeded", JSON.stringify(skipped));
    assert.equal(skipped.result.skipped, "upstream_wait");
    assert.match(skipped.result.reason, /asked us to wait until .*not calling it before then/);
    const fetchNow = await fila.get("/currency/latest");
    assert.equal(fetchNow.status, 502);
    assert.match(fetchNow.body.error.message, /asked us to wait until/);
    const health = await fila.get("/health");
    assert.equal(health.body.status, "degraded");
    assert.match(health.body.checks.quotes.last_refresh_error, /asked us to wait until/);

    // a refresh submitted by hand waits for the end of the capped wait, no longer
    const byHand = await fila.post("/tasks", { type: "refresh_quotes" });
    const waiting = await settled(fila, byHand.body.id);
    assert.equal(waiting.status, "retrying");
    const runAt = Date.parse(waiting.run_at);
    assert.ok(runAt <= before + HOUR_MS + 5_000, `retry at ${waiting.run_at}`);
    assert.ok(runAt >= until - 1_000, `not before the wait ends: ${waiting.run_at}`);
    assert.equal(upstream.requests, 1, "nothing called the upstream during the wait");
    const cancel = await fila.fetch(`/tasks/${byHand.body.id}`, { method: "DELETE" });
    await cancel.body?.cancel();
  } finally {
    await stop();
  }
});

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] quotes: a cron refresh more than two minutes old ends as superseded without calling the upstream`, async () => {
    const upstream = startFakeAwesomeApi();
    const dir = await Deno.makeTempDir({ prefix: "fila-superseded-" });
    const env = { QUOTES_API_URL: upstream.url, QUOTE_PAIRS: PAIRS };
    // an API-only instance submits the tick; nothing runs it until a worker starts
    const api = await startTestFila({
      store: combo.store,
      driver: combo.driver,
      dir,
      env: { ...env, ROLE: "api" },
    });
    let worker: TestFila | undefined;
    try {
      const { id } = (await refreshTick(api.instance))!;
      // it waited three minutes for a worker
      await api.sql.query("UPDATE tasks SET created_at = created_at - 180000 WHERE id = ?", [id]);
      worker = await startTestFila({ store: combo.store, driver: combo.driver, dir, env });
      const done = await worker.waitForTask(id);
      assert.equal(done.status, "succeeded", JSON.stringify(done));
      assert.equal(done.result.skipped, "superseded");
      assert.match(done.result.reason, /more than 2 min ago: later ticks refresh/);
      assert.equal(upstream.requests, 0);

      // a fresh tick still refreshes
      const fresh = (await refreshTick(worker.instance, nextMinute(Date.now() + 60_000)))!;
      const stored = await worker.waitForTask(fresh.id);
      assert.equal(stored.status, "succeeded");
      assert.equal(stored.result.stored, 3);
      assert.equal(upstream.requests, 1);
    } finally {
      await worker?.stop();
      await api.stop();
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("quotes: concurrent fetch-now calls share one upstream call", async () => {
  const { upstream, fila, stop } = await setup();
  try {
    upstream.mode = "slow";
    upstream.slowMs = 300;
    const answers = await Promise.all(
      Array.from(
        { length: 6 },
        (_, i) => fila.get(`/currency/latest?pair=${PAIRS.split(",")[i % 3]}`),
      ),
    );
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(answers.slice(0, 3).map((a) => a.body.pair), PAIRS.split(","));
    assert.equal(upstream.requests, 1);
  } finally {
    await stop();
  }
});
