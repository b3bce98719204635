/// <reference lib="dom" />
// The page callbacks below run in Chromium, so this file also sees the DOM types.
import assert from "node:assert/strict";
import { type Browser, launchChromium } from "../support/chromium.ts";
import { startTestFila } from "../support/harness.ts";

const TOKEN = "docs-page-token";

Deno.test("docs: on an instance with API_TOKEN, /docs shows Authorize, and Try it out submits a task with the token — in real Chromium", async () => {
  const fila = await startTestFila({ env: { API_TOKEN: TOKEN } });
  const shots = Deno.env.get("FILA_SCREENSHOTS_DIR") ?? `${fila.dir}/screenshots`;
  await Deno.mkdir(shots, { recursive: true });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const sent: { url: string; authorization: string | null }[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST") {
        sent.push({ url: r.url(), authorization: r.headers().authorization });
      }
    });

    await page.goto(`${fila.url}/docs`);
    const authorize = page.locator(".swagger-ui .auth-wrapper .authorize");
    await authorize.waitFor();
    await page.screenshot({ path: `${shots}/docs.png` });
    // every protected operation shows a lock; the probes do not
    const submit = page.locator("#operations-tasks-submitTask");
    await submit.waitFor();
    assert.equal(await submit.locator(".authorization__btn").count(), 1, "submitTask has a lock");
    assert.equal(
      await page.locator("#operations-operations-getHealth .authorization__btn").count(),
      0,
      "getHealth is public",
    );

    // Authorize with the token
    await authorize.click();
    const dialog = page.locator(".dialog-ux .modal-ux");
    await dialog.locator("input").first().fill(TOKEN);
    await dialog.locator("button.modal-btn.auth.authorize").click();
    await dialog.locator("button.modal-btn.auth", { hasText: "Logout" }).waitFor();
    await dialog.locator("button.btn-done").click();

    // Try it out: POST /tasks with a body of our own
    await submit.locator(".opblock-summary").click();
    await submit.locator("button.try-out__btn").click();
    const body = submit.locator("textarea.body-param__text");
    await body.fill(JSON.stringify({ type: "uppercase", payload: { text: "from the docs page" } }));
    await submit.locator("button.execute").click();
    const live = submit.locator(".live-responses-table .response");
    await live.waitFor();
    const status = (await live.locator(".response-col_status").innerText()).trim();
    await submit.screenshot({ path: `${shots}/docs-try-it-out.png` });
    assert.equal(status, "202", await live.innerText());
    const answer = JSON.parse(await live.locator(".microlight, pre").first().innerText());
    assert.equal(answer.type, "uppercase");

    // the request carried the token, and the server stored and ran the task
    const post = sent.find((r) => r.url === `${fila.url}/tasks`);
    assert.equal(post?.authorization, `Bearer ${TOKEN}`);
    const res = await fila.fetch(`/tasks/${answer.id}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).payload.text, "from the docs page");
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    await fila.stop();
  }
});
