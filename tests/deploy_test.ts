/**
 * Fila as Deno Deploy runs it: no FFI (no native add-ons), no file writes, no
 * subprocesses, KV in memory, DENO_DEPLOYMENT_ID set, and a remote libSQL
 * database — here the Hrana-over-HTTP stand-in for sqld/Turso
 * (tests/support/hrana_server.ts), since no libSQL server can run on this machine.
 */
import assert from "node:assert/strict";
import { clientFor } from "./support/harness.ts";
import { startHranaServer } from "./support/hrana_server.ts";

/** Deploy's limits, reproduced with Deno's own permission flags. */
const DEPLOY_FLAGS = [
  "--deny-ffi",
  "--deny-write",
  "--deny-run",
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-sys",
];
const MAIN = new URL("../main.ts", import.meta.url).pathname;

function deployEnv(databaseUrl: string): Record<string, string> {
  return {
    DENO_DEPLOYMENT_ID: "fila-test-deployment",
    DATABASE_URL: databaseUrl,
    KV_PATH: ":memory:",
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_FORMAT: "json",
    LOG_LEVEL: "info",
    QUOTES_API_URL: "http://127.0.0.1:9/json/last/",
    // the minute cron every second (Deno's own test knob), so a tick is seen quickly
    DENO_CRON_TEST_SCHEDULE_OFFSET: "1000",
    NO_COLOR: "1",
  };
}

/** Runs the real entry, main.ts, under Deploy's limits; resolves with its URL once it serves. */
async function startDeployShaped(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...DEPLOY_FLAGS, MAIN],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let url: string | null = null;
  const deadline = Date.now() + 30_000;
  while (url === null && Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) break;
    out += value;
    url = out.match(/up: .* on (http:\/\/127\.0\.0\.1:\d+)/)?.[1] ?? null;
  }
  (async () => {
    while (!(await lines.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  return { child, url, output: () => out, stderr: () => stderr };
}

Deno.test("deploy: under Deploy's limits on a remote libSQL store, Fila starts healthy, runs tasks with the db driver, and its cron ticks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fila-deploy-" });
  const database = await startHranaServer({ path: `${dir}/remote.db` });
  const fila = await startDeployShaped(deployEnv(database.url));
  try {
    assert.ok(fila.url, `did not start: ${fila.stderr()}\n${fila.output()}`);
    const api = clientFor(fila.url);
    const health = await api.get("/health");
    assert.equal(health.status, 200, JSON.stringify(health.body));
    assert.equal(health.body.checks.db.store, "libsql-remote");
    assert.equal(health.body.checks.db.can_write, true);
    assert.equal(health.body.checks.kv.driver, "db"); // auto: Deploy has no KV queues

    const { body } = await api.post("/tasks/batch", {
      tasks: Array.from(
        { length: 5 },
        (_, i) => ({ type: "uppercase", payload: { text: `d${i}` } }),
      ),
    });
    for (const [i, task] of body.tasks.entries()) {
      const done = await api.waitForTask(task.id);
      assert.equal(done.status, "succeeded");
      assert.deepEqual(done.result, { text: `D${i}` });
    }
    // Deno.cron fired (registered at the top level, before serving) and submitted this minute's refresh
    const deadline = Date.now() + 10_000;
    let refreshes = 0;
    while (refreshes === 0 && Date.now() < deadline) {
      refreshes = (await api.get("/tasks?type=refresh_quotes")).body.total;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(refreshes >= 1, "no cron tick submitted a refresh");
  } finally {
    fila.child.kill("SIGTERM");
    const status = await fila.child.status;
    await database.close();
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, fila.stderr());
  }
});

Deno.test("deploy: an unreachable database stops start-up with one line naming DATABASE_URL", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now
  const fila = await startDeployShaped(deployEnv(`http://127.0.0.1:${port}`));
  const status = await fila.child.status;
  assert.equal(fila.url, null);
  assert.equal(status.code, 1);
  const lines = fila.stderr().trim().split("\n");
  assert.equal(lines.length, 1, fila.stderr());
  assert.match(lines[0], new RegExp(`^fila: DATABASE_URL: http://127\\.0\\.0\\.1:${port}: `));
});
