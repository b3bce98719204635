/// <reference lib="dom" />
// The page callbacks below run in Chromium, so this file also sees the DOM types.
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { startTestFila } from "../support/harness.ts";
import { RECENT_READING_SECONDS, startFakeAwesomeApi } from "../support/fake_awesomeapi.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function watchErrors(page: Page, errors: string[]) {
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
}

Deno.test("dashboard: submit, watch, open, cancel, quotes chart, outbox — in real Chromium, without console errors", async () => {
  const upstream = startFakeAwesomeApi();
  const fila = await startTestFila({
    env: { QUOTES_API_URL: upstream.url, WORKER_CONCURRENCY: "4" },
  });
  let browser: Browser | undefined;
  // kept under the test folder (removed afterwards) unless FILA_SCREENSHOTS_DIR names a place to keep them
  const shots = Deno.env.get("FILA_SCREENSHOTS_DIR") ?? `${fila.dir}/screenshots`;
  await Deno.mkdir(shots, { recursive: true });
  try {
    // some history for the chart, and one mail for the outbox
    for (let i = 0; i < 5; i++) {
      upstream.setReading("USD-BRL", {
        bid: 5.3 + i / 100,
        timestamp: RECENT_READING_SECONDS + i * 60,
      });
      assert.equal((await fila.get("/currency/latest")).status, 200);
    }
    const mail = await fila.post("/tasks", {
      type: "send_email",
      payload: { to: "ana@example.com", subject: "Hello", text: "Hi" },
    });
    await fila.waitForTask(mail.body.id);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors: string[] = [];
    watchErrors(page, errors);

    await page.goto(`${fila.url}/`);
    await page.locator("#by-status .card").first().waitFor();
    await page.screenshot({ path: `${shots}/overview-1440.png`, fullPage: true });

    // submit an uppercase task with the form; its row reaches succeeded without a reload
    await page.click('a[href="#submit"]');
    await page.selectOption("#s-type", "uppercase");
    await page.fill("#s-payload", JSON.stringify({ text: "from the browser" }));
    await page.screenshot({ path: `${shots}/submit-1440.png`, fullPage: true });
    await page.click('#submit-form button[type="submit"]');
    await page.waitForURL(/#tasks$/);
    const row = page.locator("#task-rows tr", { hasText: "uppercase" }).first();
    await row.locator('[data-status="succeeded"]').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: `${shots}/tasks-1440.png`, fullPage: true });
    await row.click();
    await page.locator("#d-result", { hasText: "FROM THE BROWSER" }).waitFor();
    await page.locator("#d-events li", { hasText: "succeeded" }).waitFor();
    await page.screenshot({ path: `${shots}/detail-1440.png`, fullPage: true });

    // a 30 s work task, cancelled from its detail view
    const work = await fila.post("/tasks", { type: "work", payload: { duration_ms: 30_000 } });
    await page.goto(`${fila.url}/#task/${work.body.id}`);
    await page.locator('#d-status [data-status="running"]').waitFor({ timeout: 10_000 });
    await page.click("#cancel");
    await page.locator('#d-status [data-status="cancelled"]').waitFor({ timeout: 10_000 });
    assert.equal((await fila.get(`/tasks/${work.body.id}`)).body.status, "cancelled");

    // the quotes chart draws
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
    await page.locator("#q-cards .card", { hasText: "USD-BRL" }).waitFor();
    await page.screenshot({ path: `${shots}/quotes-1440.png`, fullPage: true });

    await page.click('a[href="#outbox"]');
    await page.locator("#mails article", { hasText: "Hello" }).waitFor();
    await page.screenshot({ path: `${shots}/outbox-1440.png`, fullPage: true });

    // the same pages on a phone
    const phone = await browser.newPage({ viewport: { width: 375, height: 800 } });
    watchErrors(phone, errors);
    for (const view of ["overview", "tasks", "submit", "quotes", "outbox"]) {
      await phone.goto(`${fila.url}/#${view}`);
      await phone.locator("#view h2").first().waitFor();
      await phone.waitForTimeout(300);
      const overflow = await phone.evaluate(() =>
        document.documentElement.scrollWidth - innerWidth
      );
      assert.ok(overflow <= 0, `${view} scrolls sideways at 375 px by ${overflow} px`);
      await phone.screenshot({ path: `${shots}/${view}-375.png`, fullPage: true });
    }
    assert.deepEqual(errors, []);
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

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
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

    // quotes with none stored yet: "no quote yet" cards, and no 404s in the console
    await page.click('a[href="#quotes"]');
    await page.locator("#q-cards .card", { hasText: "no quote yet" }).first().waitFor();
    assert.deepEqual(errors.filter((e) => !e.includes("401")), []);
  } finally {
    await browser?.close();
    await fila.stop();
  }
});
