import assert from "node:assert/strict";
import { startTestFila } from "./support/harness.ts";

Deno.test("security: with API_TOKEN every route but health needs the Bearer token; 401 is JSON", async () => {
  const fila = await startTestFila({ env: { API_TOKEN: "s3cret-token" } });
  try {
    const anonymous = await fila.fetch("/tasks");
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get("www-authenticate") ?? "", /Bearer/);
    assert.equal((await anonymous.json()).error.code, "unauthorized");
    const wrong = await fila.fetch("/tasks", { headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    for (
      const path of ["/currency", "/outbox", "/queue/stats", "/api/v1/tasks", "/tasks/x/events"]
    ) {
      const res = await fila.fetch(path);
      await res.body?.cancel();
      assert.equal(res.status, 401, path);
    }
    const post = await fila.fetch("/tasks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "noop" }),
    });
    await post.body?.cancel();
    assert.equal(post.status, 401);
    assert.equal((await fila.get("/health")).status, 200);
    const ok = await fila.fetch("/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer s3cret-token" },
      body: JSON.stringify({ type: "noop" }),
    });
    assert.equal(ok.status, 202);
    await ok.body?.cancel();
  } finally {
    await fila.stop();
  }
});

Deno.test("security: secure headers on every answer; CORS closed unless CORS_ORIGINS names the origin", async () => {
  const closed = await startTestFila({ env: { ROLE: "api" } });
  const open = await startTestFila({
    env: { ROLE: "api", CORS_ORIGINS: "https://app.example.com" },
  });
  try {
    const res = await closed.fetch("/tasks", { headers: { origin: "https://evil.example" } });
    await res.body?.cancel();
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.ok(res.headers.get("content-security-policy"));
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    const allowed = await open.fetch("/tasks", { headers: { origin: "https://app.example.com" } });
    await allowed.body?.cancel();
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example.com");
    const other = await open.fetch("/tasks", { headers: { origin: "https://evil.example" } });
    await other.body?.cancel();
    assert.notEqual(other.headers.get("access-control-allow-origin"), "https://evil.example");
  } finally {
    await closed.stop();
    await open.stop();
  }
});

Deno.test("deploy: on Deno Deploy a file: database is refused at start-up with a clear message", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname],
    env: { DENO_DEPLOYMENT_ID: "abc123", DATABASE_URL: "file:./data/x.db", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  const text = new TextDecoder().decode(out.stderr);
  assert.match(text, /DATABASE_URL: a file: database is refused on Deno Deploy/);
});
