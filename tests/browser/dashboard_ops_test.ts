/// <reference lib="dom" />
// The page callbacks below run in Chromium, so this file also sees the DOM types.
/**
 * The dashboard's operations views in real Chromium: schedules (create with field errors,
 * pause and resume, run now, delete with confirmation, the built-in one), type limits,
 * a task's dependencies and dependents, and bulk retry and cancel behind a confirmation.
 */
import assert from "node:assert/strict";
import {
  type Browser,
  launchChromium,
  type Page,
  sidewaysScroll,
  watchErrors,
} from "../support/chromium.ts";
import { type Json, startTestFila } from "../support/harness.ts";

/** Fails unless every cell of `row` shows, with its label, inside the screen (a phone's cards). */
async function assertCellsShown(page: Page, row: string, labels: string[], where: string) {
  const cells = await page.$$eval(`${row} td`, (tds) =>
    tds.map((td) => {
      const r = td.getBoundingClientRect();
      const inside = [...td.querySelectorAll("*")].every((e) => {
        const b = e.getBoundingClientRect();
        return b.width === 0 || (b.left >= 0 && b.right <= innerWidth);
      });
      return {
        label: getComputedStyle(td, "::before").content,
        shown: r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= innerWidth && inside,
      };
    }));
  assert.deepEqual(
    cells,
    labels.map((label) => ({ label: `"${label}"`, shown: true })),
    `${row} at ${where}`,
  );
}

/** The id of the element that has the keyboard focus. */
function focusedId(page: Page) {
  return page.evaluate(() => document.activeElement?.id ?? "");
}

/** How many tasks of `type` have `status`, through the API. */
async function countOf(fila: { get(path: string): Promise<{ body: Json }> }, q: string) {
  return (await fila.get(`/tasks?${q}&limit=1`)).body.total as number;
}

Deno.test("dashboard ops: schedules, type limits, dependencies, bulk retry and cancel — in real Chromium at 1440 and 375 px, by keyboard, without console errors", async () => {
  const fila = await startTestFila({ env: { WORKER_CONCURRENCY: "2" } });
  let browser: Browser | undefined;
  // kept under the test folder (removed afterwards) unless FILA_SCREENSHOTS_DIR names a place to keep them
  const shots = Deno.env.get("FILA_SCREENSHOTS_DIR") ?? `${fila.dir}/screenshots`;
  await Deno.mkdir(shots, { recursive: true });
  const patchType = (type: string, body: unknown) =>
    fila.fetch(`/task-types/${type}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: await r.json() }));
  try {
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const phone = await browser.newPage({ viewport: { width: 375, height: 800 } });
    const errors: string[] = [];
    watchErrors(page, errors);
    watchErrors(phone, errors);

    // 1. the built-in quote refresh: marked built-in, can be paused or run, not edited or deleted
    await page.goto(`${fila.url}/#schedules`);
    const builtin = page.locator('#schedule-rows tr[data-name="refresh_quotes"]');
    await builtin.waitFor();
    assert.equal(await builtin.locator(".badge.builtin").innerText(), "built-in");
    assert.deepEqual(await builtin.locator("button").allInnerTexts(), ["Pause", "Run now"]);
    assert.equal(await builtin.locator('[data-act="delete"], [data-act="edit"]').count(), 0);

    // 2. a bad cron: the API's message beside the cron field, which gets the focus
    const probe = await fila.fetch("/schedules/probe", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cron: "61 * * * *", type: "sum", payload: { numbers: [1, 2] } }),
    });
    assert.equal(probe.status, 400);
    const cronIssue = (await probe.json()).error.details.issues[0];
    assert.equal(cronIssue.path, "cron");
    await page.fill("#sc-name", "nightly-sum");
    await page.fill("#sc-cron", "61 * * * *");
    await page.fill("#sc-timezone", "America/Sao_Paulo");
    await page.selectOption("#sc-type", "sum");
    await page.selectOption("#sc-priority", "low");
    await page.fill("#sc-payload", JSON.stringify({ numbers: [1, 2] }));
    await page.click('#schedule-form button[type="submit"]');
    await page.locator("#sc-cron-error", { hasText: cronIssue.message }).waitFor();
    assert.equal(await page.getAttribute("#sc-cron", "aria-invalid"), "true");
    assert.equal(await focusedId(page), "sc-cron");
    assert.equal(await page.locator("#sc-payload-error").isVisible(), false);
    assert.equal((await fila.get("/schedules/nightly-sum")).status, 404);
    await page.screenshot({ path: `${shots}/ops-schedule-error-1440.png`, fullPage: true });

    // 3. a good cron: created, listed with its next run (03:30 in São Paulo is 06:30 UTC)
    await page.fill("#sc-cron", "30 3 * * *");
    await page.keyboard.press("Enter");
    const row = page.locator('#schedule-rows tr[data-name="nightly-sum"]');
    await row.waitFor();
    await page.locator("#sc-msg", { hasText: "Created nightly-sum" }).waitFor();
    assert.equal(await page.locator("#sc-cron-error").isVisible(), false);
    const created = (await fila.get("/schedules/nightly-sum")).body;
    assert.equal(created.timezone, "America/Sao_Paulo");
    assert.equal(created.priority, "low");
    assert.deepEqual(created.payload, { numbers: [1, 2] });
    assert.match(created.next_run_at, /T06:30:00\.000Z$/);
    assert.equal(await row.locator(".next-run time").getAttribute("datetime"), created.next_run_at);
    assert.match(await row.locator(".next-run").innerText(), /\d.*in \d+ (min|h|d)$/);
    assert.equal(await row.locator(".state").innerText(), "active");

    // 4. pause and resume with the keyboard; the focus stays on the button as the list refreshes
    await page.focus('[data-key="toggle:nightly-sum"]');
    await page.keyboard.press("Enter");
    await row.locator(".state", { hasText: "paused" }).waitFor();
    assert.equal((await fila.get("/schedules/nightly-sum")).body.paused, true);
    assert.equal((await fila.get("/schedules/nightly-sum")).body.next_run_at, null);
    assert.equal(await row.locator(".next-run").innerText(), "paused");
    assert.equal(
      await page.evaluate(() => (document.activeElement as HTMLElement).dataset.key),
      "toggle:nightly-sum",
    );
    assert.equal(await page.locator('[data-key="toggle:nightly-sum"]').innerText(), "Resume");
    await page.keyboard.press("Space");
    await row.locator(".state", { hasText: "active" }).waitFor();
    assert.equal((await fila.get("/schedules/nightly-sum")).body.paused, false);
    await page.screenshot({ path: `${shots}/ops-schedules-1440.png`, fullPage: true });

    // the same list on a phone: every cell of a row inside the screen, nothing sideways
    await phone.goto(`${fila.url}/#schedules`);
    await phone.locator('#schedule-rows tr[data-name="nightly-sum"]').waitFor();
    await assertCellsShown(
      phone,
      '#schedule-rows tr[data-name="nightly-sum"]',
      ["Schedule", "When", "Task", "State", "Next run", "Last run", "Actions"],
      "375 px",
    );
    assert.ok((await sidewaysScroll(phone)) <= 0, "schedules scroll sideways at 375 px");
    await phone.screenshot({ path: `${shots}/ops-schedules-375.png`, fullPage: true });

    // 5. run now: the new task is linked, and the link opens it
    await row.locator('[data-act="trigger"]').click();
    const started = page.locator("#sc-started");
    await started.waitFor();
    const startedId = (await started.getAttribute("href"))!.replace("#task/", "");
    const triggered = await fila.waitForTask(startedId);
    assert.equal(triggered.type, "sum");
    assert.equal(triggered.priority, "low");
    await row.locator(".last-run a").waitFor();
    assert.equal(await row.locator(".last-run a").getAttribute("href"), `#task/${startedId}`);
    await started.click();
    await page.waitForURL(new RegExp(`#task/${startedId}$`));
    await page.locator('#d-status [data-status="succeeded"]').waitFor();
    assert.deepEqual(JSON.parse(await page.locator("#d-result").innerText()), triggered.result);

    // 6. delete asks first: keeping it changes nothing; deleting removes it
    await page.goto(`${fila.url}/#schedules`);
    await row.waitFor();
    await row.locator('[data-act="delete"]').click();
    const confirm = page.locator("#confirm-dialog");
    await page.locator("#confirm-dialog[open]").waitFor();
    assert.match(await confirm.locator("#confirm-text").innerText(), /nightly-sum/);
    assert.equal(await focusedId(page), "confirm-keep");
    await page.keyboard.press("Escape");
    await page.locator("#confirm-dialog[open]").waitFor({ state: "detached" });
    assert.equal((await fila.get("/schedules/nightly-sum")).status, 200);
    assert.equal(await row.count(), 1);
    await row.locator('[data-act="delete"]').click();
    await confirm.locator("#confirm-ok").click();
    await page.locator("#sc-msg", { hasText: "Deleted nightly-sum" }).waitFor();
    await row.waitFor({ state: "detached" });
    assert.equal((await fila.get("/schedules/nightly-sum")).status, 404);

    // 7. type limits: a refused limit shows beside its field; a good one and a pause show in
    // the list, and the API has them
    await page.goto(`${fila.url}/#types`);
    const noop = page.locator('#type-rows tr[data-type="noop"]');
    await noop.waitFor();
    assert.equal(await noop.locator(".concurrency").innerText(), "0 running · no limit");
    await noop.locator('[data-act="limits"]').click();
    await page.locator("#limits-dialog[open]").waitFor();
    await page.fill("#lim-concurrency", "0");
    await page.click('#limits-form button[type="submit"]');
    await page.locator("#lim-concurrency-error", { hasText: ">=1" }).waitFor();
    assert.equal(await focusedId(page), "lim-concurrency");
    await page.fill("#lim-concurrency", "2");
    await page.keyboard.press("Enter");
    await page.locator("#limits-dialog[open]").waitFor({ state: "detached" });
    await noop.locator(".concurrency", { hasText: "limit 2" }).waitFor();
    // the keyboard is back where it was, on the rebuilt row's button
    assert.equal(
      await page.evaluate(() => (document.activeElement as HTMLElement).dataset.key),
      "limits:noop",
    );
    await page.focus('[data-key="toggle:noop"]');
    await page.keyboard.press("Enter");
    await noop.locator(".state", { hasText: "paused" }).waitFor();
    const limits = (await fila.get("/task-types")).body.types.find((t: Json) => t.type === "noop");
    assert.deepEqual(limits.limits, { concurrency: 2, rate_per_minute: null, paused: true });
    await page.screenshot({ path: `${shots}/ops-types-1440.png`, fullPage: true });
    await phone.goto(`${fila.url}/#types`);
    await phone.locator('#type-rows tr[data-type="noop"] .state', { hasText: "paused" }).waitFor();
    await assertCellsShown(
      phone,
      '#type-rows tr[data-type="noop"]',
      ["Type", "State", "Concurrency", "Rate", "Actions"],
      "375 px",
    );
    assert.ok((await sidewaysScroll(phone)) <= 0, "types scroll sideways at 375 px");
    await phone.screenshot({ path: `${shots}/ops-types-375.png` });

    // 8. dependencies: a child waits for a parent of the paused type; each links to the other
    const parent = (await fila.post("/tasks", { type: "noop" })).body;
    const child = (await fila.post("/tasks", {
      type: "uppercase",
      payload: { text: "after" },
      depends_on: [parent.id],
    })).body;
    assert.equal(child.status, "blocked");
    await page.goto(`${fila.url}/#tasks?status=blocked`);
    await page.locator(`#task-rows tr[data-id="${child.id}"]`).waitFor();
    assert.equal(await page.inputValue("#f-status"), "blocked");
    await page.locator("#page", { hasText: "1–1 of 1" }).waitFor();
    await page.click(`#task-rows tr[data-id="${child.id}"] a`);
    const toParent = page.locator(`#d-depends-on a[href="#task/${parent.id}"]`);
    await toParent.waitFor();
    assert.equal(await page.locator('#d-status [data-status="blocked"]').count(), 1);
    assert.equal(
      await page.locator("#d-depends-on li").innerText(),
      `task ${parent.id.slice(-8)} queued`,
    );
    assert.equal(await page.locator("#d-dependents a").count(), 0);
    await page.screenshot({ path: `${shots}/ops-dependencies-1440.png`, fullPage: true });
    await toParent.click();
    await page.waitForURL(new RegExp(`#task/${parent.id}$`));
    const toChild = page.locator(`#d-dependents a[href="#task/${child.id}"]`);
    await toChild.waitFor();
    assert.match(await page.locator("#d-dependents li").innerText(), /blocked$/);
    assert.equal(await page.locator("#d-depends-on a").count(), 0);
    await toChild.click();
    await page.waitForURL(new RegExp(`#task/${child.id}$`));
    await toParent.waitFor();
    await phone.goto(`${fila.url}/#task/${child.id}`);
    await phone.locator(`#d-depends-on a[href="#task/${parent.id}"]`).waitFor();
    assert.ok((await sidewaysScroll(phone)) <= 0, "a task's detail scrolls sideways at 375 px");
    await phone.screenshot({ path: `${shots}/ops-dependencies-375.png`, fullPage: true });

    // 9. bulk cancel: three more waiting noop tasks (the type is paused), and a scheduled task
    // of another type that the list's type filter leaves alone
    for (let i = 0; i < 3; i++) await fila.post("/tasks", { type: "noop", priority: "low" });
    const later = (await fila.post("/tasks", {
      type: "uppercase",
      payload: { text: "later" },
      delay_ms: 600_000,
    })).body;
    assert.equal(later.status, "scheduled");
    assert.equal(await countOf(fila, "type=noop&status=queued"), 4);
    await page.goto(`${fila.url}/#tasks?type=noop`);
    await page.locator("#page", { hasText: "1–4 of 4" }).waitFor();
    await page.focus("#bulk-cancel");
    await page.keyboard.press("Enter");
    await page.locator("#confirm-dialog[open]").waitFor();
    const question = await page.locator("#confirm-text").innerText();
    assert.match(question, /^Cancel the 4 waiting tasks of type noop\?/);
    assert.equal(await page.locator("#confirm-ok").innerText(), "Cancel 4 tasks");
    assert.equal(await focusedId(page), "confirm-keep");
    await page.keyboard.press("Escape");
    await page.locator("#bulk-msg", { hasText: "Nothing changed." }).waitFor();
    assert.equal(await focusedId(page), "bulk-cancel");
    assert.equal(await countOf(fila, "type=noop&status=queued"), 4);
    assert.equal(await countOf(fila, "status=cancelled"), 0);
    // the same question on a phone fits the screen
    await phone.goto(`${fila.url}/#tasks?type=noop`);
    await phone.locator("#page", { hasText: "1–4 of 4" }).waitFor();
    await phone.click("#bulk-cancel");
    await phone.locator("#confirm-dialog[open]").waitFor();
    const box = (await phone.locator("#confirm-dialog").boundingBox())!;
    // inside the screen, with a margin to its edges
    assert.ok(
      box.x >= 8 && box.x + box.width <= 375 - 8,
      `the dialog is cut or touches the edges: ${JSON.stringify(box)}`,
    );
    assert.ok((await sidewaysScroll(phone)) <= 0, "the bulk dialog scrolls sideways at 375 px");
    await phone.screenshot({ path: `${shots}/ops-bulk-cancel-375.png` });
    await phone.click("#confirm-keep");
    await phone.locator("#bulk-msg", { hasText: "Nothing changed." }).waitFor();
    assert.equal(await countOf(fila, "type=noop&status=queued"), 4);
    // confirmed: the four are cancelled (and the child that waited for one of them)
    await page.click("#bulk-cancel");
    await page.locator("#confirm-dialog[open]").waitFor();
    await page.screenshot({ path: `${shots}/ops-bulk-cancel-1440.png`, fullPage: true });
    await page.click("#confirm-ok");
    await page.locator("#bulk-msg", { hasText: "Cancelled 4 tasks." }).waitFor();
    assert.equal(await countOf(fila, "type=noop&status=queued"), 0);
    assert.equal(await countOf(fila, "type=noop&status=cancelled"), 4);
    assert.equal((await fila.get(`/tasks/${later.id}`)).body.status, "scheduled");
    assert.equal((await fila.waitForTask(child.id)).status, "cancelled");
    await page.locator('#task-rows [data-status="cancelled"]').first().waitFor();
    assert.equal(await page.locator('#task-rows [data-status="queued"]').count(), 0);
    // nothing left to cancel of that type: said without a question
    await page.click("#bulk-cancel");
    await page.locator("#bulk-msg", { hasText: "No waiting tasks of type noop." }).waitFor();
    assert.equal(await page.locator("#confirm-dialog[open]").count(), 0);

    // 10. bulk retry: two failed tasks of a type paused after they failed, so replayed ones wait
    const failing = await fila.post("/tasks/batch", {
      tasks: [1, 2].map(() => ({ type: "test_always_fails", payload: { unrecoverable: true } })),
    });
    for (const t of failing.body.tasks) await fila.waitForTask(t.id);
    assert.equal((await patchType("test_always_fails", { paused: true })).status, 200);
    await page.selectOption("#f-type", "test_always_fails");
    await page.locator("#page", { hasText: "1–2 of 2" }).waitFor();
    await page.click("#bulk-retry");
    await page.locator("#confirm-dialog[open]").waitFor();
    assert.match(
      await page.locator("#confirm-text").innerText(),
      /^Retry 2 tasks of type test_always_fails that failed\?/,
    );
    await page.click("#confirm-ok");
    await page.locator("#bulk-msg", { hasText: "Retried 2 tasks." }).waitFor();
    assert.equal(await countOf(fila, "type=test_always_fails&status=failed"), 0);
    assert.equal(await countOf(fila, "type=test_always_fails&status=queued"), 2);
    await page.screenshot({ path: `${shots}/ops-tasks-1440.png`, fullPage: true });

    // the deliberate refusals (the bad cron, the zero limit) are the only console errors
    const refused = errors.filter((e) => /status of 400/.test(e));
    assert.equal(refused.length, 2, errors.join("\n"));
    assert.deepEqual(errors.filter((e) => !refused.includes(e)), []);
  } finally {
    await browser?.close();
    await fila.stop();
  }
});
