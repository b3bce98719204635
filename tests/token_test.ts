import assert from "node:assert/strict";
import { startTestFila } from "./support/harness.ts";

const PUNCTUATED = "p@ss:w0rd!#$%&'()*,;<=>?[]^`{|}\"\\";

Deno.test("token: an API_TOKEN with punctuation is accepted with the right header, refused (401 JSON) otherwise", async () => {
  const fila = await startTestFila({ env: { API_TOKEN: PUNCTUATED } });
  try {
    const get = (authorization?: string) =>
      fila.fetch("/tasks", { headers: authorization ? { authorization } : {} });

    const ok = await get(`Bearer ${PUNCTUATED}`);
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.ok(Array.isArray((await ok.json()).tasks));
    const lowerScheme = await get(`bearer ${PUNCTUATED}`);
    await lowerScheme.body?.cancel();
    assert.equal(lowerScheme.status, 200, "the scheme is case-insensitive");

    const refusals: [string | undefined, RegExp][] = [
      [undefined, /send Authorization: Bearer/],
      ["Bearer p@ss:w0rd!", /not valid/],
      [`Bearer ${PUNCTUATED}x`, /not valid/],
      [`Bearer ${PUNCTUATED.slice(1)}`, /not valid/],
      [`Basic ${btoa(`user:${PUNCTUATED}`)}`, /must be Bearer/],
      [`Bearer ${PUNCTUATED} extra`, /must be Bearer/],
      ["Bearer", /must be Bearer/],
    ];
    for (const [authorization, reason] of refusals) {
      const res = await get(authorization);
      assert.equal(res.status, 401, String(authorization));
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="fila"/);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/);
      const body = await res.json();
      assert.equal(body.error.code, "unauthorized");
      assert.match(body.error.message, reason, String(authorization));
    }
    const post = await fila.post("/tasks", { type: "noop" }, {
      authorization: `Bearer ${PUNCTUATED}`,
    });
    assert.equal(post.status, 202);
    assert.equal((await fila.get("/health")).status, 200, "probes need no token");
  } finally {
    await fila.stop();
  }
});

Deno.test("token: an API_TOKEN that cannot travel in a header stops start-up with a line naming API_TOKEN", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fila-token-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname],
    env: {
      API_TOKEN: "two words",
      PORT: "0",
      HOST: "127.0.0.1",
      CRON_ENABLED: "false",
      DATABASE_URL: `file:${dir}/fila.db`,
      KV_PATH: `${dir}/kv.sqlite`,
      NO_COLOR: "1",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // should it start instead of refusing, stop it rather than wait forever
  const stop = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    const out = await child.output();
    assert.equal(out.code, 1, "start-up refused");
    assert.match(new TextDecoder().decode(out.stderr), /API_TOKEN: must be visible ASCII/);
  } finally {
    clearTimeout(stop);
    await Deno.remove(dir, { recursive: true });
  }
});
