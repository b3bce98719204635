import assert from "node:assert/strict";
import { testEnv } from "./support/harness.ts";

Deno.test("entry: main.ts starts as `deno task dev` would (cron on), serves, and stops cleanly on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fila-entry-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname],
    env: {
      ...testEnv(dir),
      CRON_ENABLED: "true",
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let out = "";
    let url: string | undefined;
    while (!url) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`main.ts exited before serving: ${out} ${await stderr}`);
      out += value;
      url = out.match(/on (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
    }
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).checks.db.ok, true);
    // the start-up refresh was submitted (the upstream is unreachable here, so it is retrying or waiting)
    const refreshes = await (await fetch(`${url}/tasks?type=refresh_quotes`)).json();
    assert.equal(refreshes.total, 1);
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    while (!(await reader.read()).done) { /* drain */ }
    await stderr;
    await Deno.remove(dir, { recursive: true });
  }
});
