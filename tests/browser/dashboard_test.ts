/// <reference lib="dom" />
// The page callbacks below run in Chromium, so this file also sees the DOM types.
import assert from "node:assert/strict";
import {
  type Browser,
  launchChromium,
  type Page,
  sidewaysScroll,
  watchErrors,
} from "../support/chromium.ts";
import { z } from "zod";
import { defineTask } from "../../tasks/types/define_task.ts";
import { startTestFila } from "../support/harness.ts";
import { RECENT_READING_SECONDS, startFakeAwesomeApi } from "../support/fake_awesomeapi.ts";

/** A task type whose description holds markup and a benchmark note: neither may reach the page as such. */
const markupHelp = defineTask({
  type: "test_markup_help",
  description: 'Says `<b>hi</b>` to <img src=x onerror="window.pwned=1">, like the benchmarks. ' +
    "Second sentence, not shown.",
  input: z.object({}).strict().default({}),
  example: {},
  run: () => null,
});

/** Fails when any element matching `selector` is wider inside than its box (its text is cut). */
async function assertNoOverflow(page: Page, selector: string, where: string) {
  const boxes = await page.$$eval(selector, (els) =>
    els.map((e) => ({
      text: e.textContent?.trim().slice(0, 40),
      scroll: e.scrollWidth,
      client: e.clientWidth,
    })));
  assert.ok(boxes.length > 0, `nothing matches ${selector} (${where})`);
  for (const b of boxes) {
    assert.ok(
      b.scroll <= b.client,
      `${selector} "${b.text}" overflows at ${where}: scrollWidth ${b.scroll} > clientWidth ${b.client}`,
    );
  }
}

/** Fails unless the chart in `container` lies inside it and inside the viewport. */
async function assertChartFits(page: Page, container: string, where: string) {
  const fit = await page.$eval(container, (el) => {
    const parts = [...el.querySelectorAll("canvas, .u-legend")].map((p) =>
      p.getBoundingClientRect().right
    );
    return {
      parts: parts.length,
      right: Math.max(...parts),
      scroll: el.scrollWidth,
      client: el.clientWidth,
      box: el.getBoundingClientRect().right,
      viewport: innerWidth,
    };
  });
  assert.ok(fit.parts >= 2, `no chart in ${container} (${where})`);
  assert.ok(fit.scroll <= fit.client, `${container} scrolls inside at ${where}`);
  assert.ok(
    fit.right <= fit.box && fit.box <= fit.viewport,
    `${container} is cut at ${where}: ${JSON.stringify(fit)}`,
  );
}

/** The throughput chart as drawn: ink beside and below the plot (axis values), bar colours, legend. */
function readThroughputChart(page: Page) {
  return page.$eval("#throughput", (el) => {
    const canvas = el.querySelector("canvas")!;
    const box = canvas.getBoundingClientRect();
    const over = el.querySelector(".u-over")!.getBoundingClientRect();
    const ratio = canvas.width / box.width;
    const ctx = canvas.getContext("2d")!;
    const pixels = (x: number, y: number, w: number, h: number) =>
      ctx.getImageData(
        Math.round((x - box.left) * ratio),
        Math.round((y - box.top) * ratio),
        Math.max(1, Math.round(w * ratio)),
        Math.max(1, Math.round(h * ratio)),
      ).data;
    const count = (
      data: Uint8ClampedArray,
      match: (r: number, g: number, b: number) => boolean,
    ) => {
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 0 && match(data[i], data[i + 1], data[i + 2])) n++;
      }
      return n;
    };
    const any = () => true;
    const plot = pixels(over.left, over.top, over.width, over.height);
    return {
      yAxisInk: count(pixels(box.left, over.top, over.left - box.left, over.height), any),
      xAxisInk: count(pixels(over.left, over.bottom, over.width, box.bottom - over.bottom), any),
      // the bar colours of app.js: succeeded #1e7b34, failed #c5221f
      succeededPixels: count(plot, (r, g, b) => r === 0x1e && g === 0x7b && b === 0x34),
      failedPixels: count(plot, (r, g, b) => r === 0xc5 && g === 0x22 && b === 0x1f),
      legend: [...el.querySelectorAll(".u-legend .u-series .u-label")].map((l) => l.textContent),
    };
  });
}

Deno.test("dashboard: quotes errors, throughput chart, submit errors, URL filters, help text, narrow screens — in real Chromium, without console errors", async () => {
  const upstream = startFakeAwesomeApi();
  upstream.mode = "error500";
  const fila = await startTestFila({
    env: { QUOTES_API_URL: upstream.url, WORKER_CONCURRENCY: "4" },
    extraTaskTypes: [markupHelp],
  });
  let browser: Browser | undefined;
  // kept under the test folder (removed afterwards) unless FILA_SCREENSHOTS_DIR names a place to keep them
  const shots = Deno.env.get("FILA_SCREENSHOTS_DIR") ?? `${fila.dir}/screenshots`;
  await Deno.mkdir(shots, { recursive: true });
  try {
    // a refresh that fails before any quote is stored
    const failedRefresh = await fila.post("/tasks", { type: "refresh_quotes", max_attempts: 1 });
    assert.equal((await fila.waitForTask(failedRefresh.body.id)).status, "failed");
    const refreshError: string = (await fila.get("/health")).body.checks.quotes.last_refresh_error;
    assert.match(refreshError, /answered 500/);

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const phone = await browser.newPage({ viewport: { width: 375, height: 800 } });
    const errors: string[] = [];
    watchErrors(page, errors);
    watchErrors(phone, errors);

    // 1. the Quotes view says why there is no quote, at both widths
    for (const [p, width] of [[page, 1440], [phone, 375]] as const) {
      await p.goto(`${fila.url}/#quotes`);
      const status = p.locator("#q-status .error-box");
      await status.waitFor();
      assert.equal(await status.innerText(), `The last refresh failed: ${refreshError}`);
      await p.locator("#q-cards .card", { hasText: "No quote yet" }).first().waitFor();
      assert.equal(await p.locator("#q-cards .card", { hasText: "No quote yet" }).count(), 3);
      assert.ok((await sidewaysScroll(p)) <= 0, `quotes scrolls sideways at ${width} px`);
      await p.screenshot({ path: `${shots}/quotes-error-${width}.png`, fullPage: true });
    }

    // readings for the chart (BTC-BRL with its six digits), then a refresh that works
    upstream.mode = "ok";
    upstream.setReading("BTC-BRL", {
      bid: 612345.67,
      ask: 612400.5,
      high: 615000,
      low: 601000,
      pctChange: -1.25,
    });
    for (let i = 0; i < 5; i++) {
      upstream.setReading("USD-BRL", {
        bid: 5.3 + i / 100,
        timestamp: RECENT_READING_SECONDS + i * 60,
      });
      assert.equal((await fila.get("/currency/latest")).status, 200);
    }
    const refresh = await fila.post("/tasks", { type: "refresh_quotes" });
    assert.equal((await fila.waitForTask(refresh.body.id)).status, "succeeded");
    // finished work of both kinds for the per-minute chart, 25 of one type for paging, one mail
    const noops = await fila.post("/tasks/batch", {
      tasks: Array.from({ length: 25 }, () => ({ type: "noop", priority: "low" })),
    });
    assert.equal(noops.status, 202);
    const failures = await fila.post("/tasks/batch", {
      tasks: Array.from({ length: 2 }, () => ({
        type: "test_always_fails",
        payload: { unrecoverable: true },
      })),
    });
    const mail = await fila.post("/tasks", {
      type: "send_email",
      payload: { to: "ana@example.com", subject: "Hello", text: "Hi" },
    });
    for (const t of [...noops.body.tasks, ...failures.body.tasks, mail.body]) {
      await fila.waitForTask(t.id);
    }

    // 4. the per-minute chart: values on both axes, succeeded and failed apart, a legend
    await page.goto(`${fila.url}/`);
    await page.locator("#by-status .card").first().waitFor();
    // the failed refresh and the two failures
    await page.locator("#throughput-summary", { hasText: " and 3 failed" }).waitFor();
    const chart = await readThroughputChart(page);
    assert.deepEqual(chart.legend, ["minute", "succeeded", "failed"]);
    assert.ok(chart.yAxisInk > 50, `no values on the count axis (${chart.yAxisInk} pixels)`);
    assert.ok(chart.xAxisInk > 50, `no values on the time axis (${chart.xAxisInk} pixels)`);
    assert.ok(chart.succeededPixels > 20, `no succeeded bar (${chart.succeededPixels} pixels)`);
    assert.ok(chart.failedPixels > 20, `no failed bar (${chart.failedPixels} pixels)`);
    await page.screenshot({ path: `${shots}/overview-1440.png`, fullPage: true });

    // 7. help text: `code` as <code>, markup as text, first sentence only, no benchmark talk
    await page.click('a[href="#submit"]');
    await page.selectOption("#s-type", "noop");
    const help = page.locator("#s-description");
    assert.equal(await help.innerText(), "Does nothing and succeeds; returns n + 1 when given n.");
    assert.deepEqual(await help.locator("code").allInnerTexts(), ["n + 1", "n"]);
    await page.selectOption("#s-type", "test_markup_help");
    assert.equal(await help.locator("code").innerText(), "<b>hi</b>");
    assert.equal(await help.locator("img, b").count(), 0);
    assert.equal(await help.innerText(), 'Says <b>hi</b> to <img src=x onerror="window.pwned=1">.');
    assert.equal(await page.evaluate(() => "pwned" in window), false);

    // 5. the API's field-level errors, next to their fields; a JSON mistake is caught first
    await page.selectOption("#s-type", "uppercase");
    await page.fill("#s-payload", '{"text": ');
    await page.click('#submit-form button[type="submit"]');
    await page.locator("#s-payload-error", { hasText: "not valid JSON" }).waitFor();
    assert.equal(await page.getAttribute("#s-payload", "aria-invalid"), "true");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "s-payload");

    await page.fill("#s-payload", JSON.stringify({ text: "from the browser" }));
    await page.fill("#s-delay", "99999999999");
    const tooLate = await fila.post("/tasks", {
      type: "uppercase",
      payload: { text: "x" },
      delay_ms: 99999999999,
    });
    assert.equal(tooLate.status, 400);
    const delayIssue = tooLate.body.error.details.issues.find((i: { path: string }) =>
      i.path === "delay_ms"
    );
    await page.click('#submit-form button[type="submit"]');
    await page.locator("#s-delay-error", { hasText: delayIssue.message }).waitFor();
    assert.equal(await page.getAttribute("#s-delay", "aria-invalid"), "true");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "s-delay");
    assert.equal(await page.locator("#s-payload-error").isVisible(), false);
    assert.match(page.url(), /#submit$/);
    await page.screenshot({ path: `${shots}/submit-errors-1440.png`, fullPage: true });

    // a payload the type rejects: shown beside the payload when the API lists issues, else its message
    await page.fill("#s-delay", "0");
    await page.selectOption("#s-type", "sum");
    await page.fill("#s-payload", JSON.stringify({ numbers: ["a"] }));
    const badSum = await fila.post("/tasks", { type: "sum", payload: { numbers: ["a"] } });
    assert.equal(badSum.status, 400);
    await page.click('#submit-form button[type="submit"]');
    const issues = badSum.body.error.details?.issues;
    if (Array.isArray(issues) && issues.length) {
      await page.locator("#s-payload-error", { hasText: issues[0].message }).waitFor();
    } else {
      await page.locator("#s-errors", { hasText: badSum.body.error.message }).waitFor();
    }
    assert.equal(await page.locator("#s-delay-error").isVisible(), false);

    // a good submit opens the new task
    await page.selectOption("#s-type", "uppercase");
    await page.fill("#s-payload", JSON.stringify({ text: "from the browser" }));
    await page.click('#submit-form button[type="submit"]');
    await page.waitForURL(/#task\/[0-9a-f-]+$/);
    await page.locator("#d-result", { hasText: "FROM THE BROWSER" }).waitFor({ timeout: 15_000 });
    await page.locator("#d-events li", { hasText: "succeeded" }).waitFor();
    await page.screenshot({ path: `${shots}/detail-1440.png`, fullPage: true });

    // 6. list filters and page live in the URL: reload, Back and the way back from a task keep them
    await page.click("text=← task list");
    await page.waitForURL(/#tasks$/);
    const entries = await page.evaluate(() => history.length);
    // with the keyboard: a focused select steps with the arrow keys
    await page.focus("#f-priority");
    await page.keyboard.press("ArrowDown");
    await page.waitForURL(/#tasks\?priority=high$/);
    await page.selectOption("#f-priority", "");
    await page.selectOption("#f-status", "succeeded");
    await page.selectOption("#f-type", "uppercase");
    await page.waitForURL(/#tasks\?status=succeeded&type=uppercase$/);
    // filter changes replace the history entry; only page turns add one
    assert.equal(await page.evaluate(() => history.length), entries);
    const rows = page.locator("#task-rows tr[data-id]");
    await page.locator("#page", { hasText: "1–1 of 1" }).waitFor();
    await page.reload();
    await page.locator("#page", { hasText: "1–1 of 1" }).waitFor();
    assert.equal(await page.inputValue("#f-status"), "succeeded");
    assert.equal(await page.inputValue("#f-type"), "uppercase");
    await page.screenshot({ path: `${shots}/tasks-1440.png`, fullPage: true });
    await rows.first().click();
    await page.waitForURL(/#task\//);
    await page.goBack();
    await page.waitForURL(/#tasks\?status=succeeded&type=uppercase$/);
    await page.locator("#page", { hasText: "1–1 of 1" }).waitFor();
    assert.equal(await page.inputValue("#f-type"), "uppercase");

    await page.selectOption("#f-type", "noop");
    await page.selectOption("#f-priority", "low");
    await page.locator("#page", { hasText: "1–20 of 25" }).waitFor();
    await page.click("#next");
    await page.waitForURL(/#tasks\?status=succeeded&type=noop&priority=low&page=2$/);
    await page.locator("#page", { hasText: "21–25 of 25" }).waitFor();
    await page.reload();
    await page.locator("#page", { hasText: "21–25 of 25" }).waitFor();
    assert.equal(await page.inputValue("#f-priority"), "low");
    await page.goBack();
    await page.waitForURL(/#tasks\?status=succeeded&type=noop&priority=low$/);
    await page.locator("#page", { hasText: "1–20 of 25" }).waitFor();

    // a 30 s work task, cancelled from its detail view
    const work = await fila.post("/tasks", { type: "work", payload: { duration_ms: 30_000 } });
    await page.goto(`${fila.url}/#task/${work.body.id}`);
    await page.locator('#d-status [data-status="running"]').waitFor({ timeout: 10_000 });
    await page.click("#cancel");
    await page.locator('#d-status [data-status="cancelled"]').waitFor({ timeout: 10_000 });
    assert.equal((await fila.get(`/tasks/${work.body.id}`)).body.status, "cancelled");

    // 1, 2. quotes: the chart draws, the error is gone, BTC-BRL fits its card at 1440 and 1280
    await page.click('a[href="#quotes"]');
    const canvas = page.locator("#q-chart canvas").first();
    await canvas.waitFor({ timeout: 10_000 });
    const inked = await canvas.evaluate((c: HTMLCanvasElement) => {
      const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return n;
    });
    assert.ok(inked > 100, `the chart canvas is blank (${inked} painted pixels)`);
    await page.locator("#q-status", { hasText: "Refreshed" }).waitFor();
    assert.equal(await page.locator("#q-status .error-box").count(), 0);
    await page.locator('#q-cards [data-pair="BTC-BRL"] .n', { hasText: "612" }).waitFor();
    for (const width of [1440, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForTimeout(300);
      await assertNoOverflow(page, "#q-cards .card, #q-cards .card .n", `${width} px`);
      await assertChartFits(page, "#q-chart", `${width} px`);
      await page.screenshot({ path: `${shots}/quotes-${width}.png`, fullPage: true });
    }
    await page.setViewportSize({ width: 1440, height: 900 });

    await page.click('a[href="#outbox"]');
    await page.locator("#mails article", { hasText: "Hello" }).waitFor();
    await page.screenshot({ path: `${shots}/outbox-1440.png`, fullPage: true });

    // 2, 3. the same pages on a phone: nothing scrolls sideways, charts fit, every column shows
    for (const view of ["overview", "tasks", "submit", "quotes", "outbox"]) {
      await phone.goto(`${fila.url}/#${view}`);
      await phone.locator("#view h2").first().waitFor();
      if (view === "overview") await phone.locator("#throughput canvas").waitFor();
      if (view === "tasks") await phone.locator("#task-rows tr[data-id]").first().waitFor();
      if (view === "quotes") await phone.locator("#q-chart canvas").waitFor();
      await phone.waitForTimeout(300);
      const overflow = await sidewaysScroll(phone);
      assert.ok(overflow <= 0, `${view} scrolls sideways at 375 px by ${overflow} px`);
      if (view === "overview") await assertChartFits(phone, "#throughput", "375 px");
      if (view === "quotes") {
        await assertChartFits(phone, "#q-chart", "375 px");
        await assertNoOverflow(phone, "#q-cards .card, #q-cards .card .n", "375 px");
      }
      if (view === "tasks") {
        // each cell of the first row shows, labelled, inside the screen
        const cells = await phone.$$eval(
          "#task-rows tr[data-id]:first-child td",
          (tds) =>
            tds.map((td) => {
              const r = td.getBoundingClientRect();
              return {
                label: getComputedStyle(td, "::before").content,
                shown: r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= innerWidth,
              };
            }),
        );
        assert.deepEqual(cells, [
          { label: '"Task"', shown: true },
          { label: '"Type"', shown: true },
          { label: '"Status"', shown: true },
          { label: '"Priority"', shown: true },
          { label: '"Progress"', shown: true },
          { label: '"Created"', shown: true },
        ]);
        await assertNoOverflow(phone, ".table-wrap", "375 px");
      }
      // the task list is 20 cards long on a phone: its first screen says enough
      await phone.screenshot({ path: `${shots}/${view}-375.png`, fullPage: view !== "tasks" });
    }
    // the two refused submits are the only requests the browser reports (as 400s)
    const refused = errors.filter((e) => /status of 400/.test(e));
    assert.equal(refused.length, 2, errors.join("\n"));
    assert.deepEqual(errors.filter((e) => !refused.includes(e)), []);
  } finally {
    await browser?.close();
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("dashboard: with API_TOKEN the page loads without it, asks for it, and then works", async () => {
  const fila = await startTestFila({ env: { API_TOKEN: "browser-token", ROLE: "api" } });
  let browser: Browser | undefined;
  try {
    // the shell and its assets need no token; assets are cached and revalidated by ETag
    const shell = await fetch(`${fila.url}/`);
    assert.equal(shell.status, 200);
    assert.match(await shell.text(), /\/dashboard\/assets\/app\.js\?v=/);
    const asset = await fetch(`${fila.url}/dashboard/assets/uplot.js`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get("cache-control") ?? "", /public, max-age=\d+/);
    const etag = asset.headers.get("etag");
    assert.ok(etag, "an asset without an ETag");
    assert.ok((await asset.text()).includes("uPlot"));
    const again = await fetch(`${fila.url}/dashboard/assets/uplot.js`, {
      headers: { "if-none-match": etag },
    });
    await again.body?.cancel();
    assert.equal(again.status, 304);
    const api = await fetch(`${fila.url}/tasks`);
    await api.body?.cancel();
    assert.equal(api.status, 401);

    browser = await launchChromium();
    const page = await browser.newPage();
    const errors: string[] = [];
    watchErrors(page, errors);
    await page.goto(`${fila.url}/`);
    await page.locator("#token-dialog[open]").waitFor();
    await page.fill("#token-input", "browser-token");
    await page.click('#token-form button[type="submit"]');
    await page.locator("#by-status .card").first().waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("fila.token")), "browser-token");

    // a stale token while a task's detail opens: its poll and its event stream (a fetch stream,
    // as EventSource cannot send a token) both meet a 401 and wait for the same one question
    const task = await fila.post("/tasks", { type: "uppercase", payload: { text: "t" } }, {
      authorization: "Bearer browser-token",
    });
    assert.equal(task.status, 202);
    await page.evaluate(() => localStorage.setItem("fila.token", "stale"));
    await page.goto(`${fila.url}/#task/${task.body.id}`);
    await page.locator("#token-dialog[open]").waitFor();
    await page.fill("#token-input", "browser-token");
    await page.click('#token-form button[type="submit"]');
    await page.locator('#d-status [data-status="queued"]').waitFor();
    await page.locator("#d-events li", { hasText: "submitted" }).waitFor();

    // quotes with none stored yet (no refresh has run): "No quote yet" cards, and no 404s
    await page.click('a[href="#quotes"]');
    await page.locator("#q-cards .card", { hasText: "No quote yet" }).first().waitFor();
    await page.locator("#q-status", { hasText: "the first refresh has not finished" }).waitFor();
    assert.deepEqual(errors.filter((e) => !e.includes("401")), []);
  } finally {
    await browser?.close();
    await fila.stop();
  }
});
