import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../config.ts";
import {
  MAX_REDIRECTS,
  outboundFetch,
  OutboundRefusedError,
  parseAllowList,
} from "../tasks/clients/outbound_fetch.ts";
import { UnrecoverableError } from "../tasks/engine/errors.ts";
import { startTestFila } from "./support/harness.ts";

/** A real local server that counts what reaches it. */
function startServer(handler: (req: Request) => Response = () => new Response("inside")) {
  const controller = new AbortController();
  const seen: { path: string; host: string | null }[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    (req) => {
      seen.push({ path: new URL(req.url).pathname, host: req.headers.get("host") });
      return handler(req);
    },
  );
  const port = server.addr.port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

async function refusal(promise: Promise<Response>): Promise<string> {
  try {
    const res = await promise;
    await res.body?.cancel();
  } catch (error) {
    assert.ok(error instanceof OutboundRefusedError, `not a refusal: ${error}`);
    assert.ok(error instanceof UnrecoverableError, "a refusal is not retried");
    return error.message;
  }
  assert.fail("the fetch went through");
}

Deno.test("outbound fetch: loopback in every spelling is refused and never reached", async () => {
  const server = startServer();
  try {
    const port = server.port;
    const cases: [string, RegExp][] = [
      [`http://127.0.0.1:${port}/`, /127\.0\.0\.1 is a loopback address/],
      [`http://2130706433:${port}/`, /127\.0\.0\.1 is a loopback address/],
      [`http://0x7f.1:${port}/`, /127\.0\.0\.1 is a loopback address/],
      [`http://0177.0.0.1:${port}/`, /127\.0\.0\.1 is a loopback address/],
      [`http://127.0.0.1.:${port}/`, /loopback/],
      [`http://[::ffff:127.0.0.1]:${port}/`, /127\.0\.0\.1 is a loopback address/],
      [`http://[::1]:${port}/`, /::1 is a loopback address/],
      [`http://0.0.0.0:${port}/`, /unspecified/],
    ];
    for (const [url, reason] of cases) {
      const message = await refusal(outboundFetch(url));
      assert.match(message, reason, url);
      assert.match(message, /OUTBOUND_ALLOWED_HOSTS/, "the refusal says how to allow it");
    }
    assert.deepEqual(server.seen, [], "nothing reached the server");
  } finally {
    await server.close();
  }
});

Deno.test("outbound fetch: a name is checked after DNS resolution (`localhost` → 127.0.0.1)", async () => {
  const server = startServer();
  try {
    for (const host of ["localhost", "LOCALHOST."]) {
      const message = await refusal(outboundFetch(`http://${host}:${server.port}/x`));
      assert.match(
        message,
        /localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/,
      );
    }
    assert.deepEqual(server.seen, []);
  } finally {
    await server.close();
  }
});

Deno.test("outbound fetch: private, link-local, metadata, CGNAT, multicast and other schemes are refused", async () => {
  // an aborted signal: should the guard ever let one through, fetch fails at once
  // instead of sending traffic off this machine
  const signal = AbortSignal.abort();
  const cases: [string, RegExp][] = [
    ["http://10.1.2.3/", /private address/],
    ["http://172.16.0.9:8080/", /private address/],
    ["http://192.168.1.1/", /private address/],
    ["http://169.254.169.254/latest/meta-data/", /cloud metadata endpoint/],
    ["http://169.254.10.10/", /link-local address/],
    ["http://[fd00:ec2::254]/latest/meta-data/", /cloud metadata endpoint/],
    ["http://[fc00::5]/", /unique-local/],
    ["http://[fe80::1]/", /link-local/],
    ["http://100.64.0.1/", /carrier-grade NAT/],
    ["http://100.100.100.200/", /cloud metadata endpoint/],
    ["http://224.0.0.1/", /multicast/],
    ["http://255.255.255.255/", /broadcast/],
    ["http://[64:ff9b::a00:1]/", /special-purpose address \(rfc6052\)/],
    ["http://[::a00:1]/", /non-global IPv6/],
    ["file:///etc/passwd", /only http and https/],
    ["ftp://example.com/x.csv", /only http and https/],
  ];
  for (const [url, reason] of cases) {
    assert.match(await refusal(outboundFetch(url, { signal })), reason, url);
  }
});

Deno.test("outbound fetch: the allow-list lets exactly its host:port through; a name keeps its Host header", async () => {
  const server = startServer();
  const other = startServer();
  try {
    const allowedHosts = parseAllowList(`127.0.0.1:${server.port}, localhost:${server.port}`);
    const res = await outboundFetch(`${server.url}/data`, {}, { allowedHosts });
    assert.equal(await res.text(), "inside");
    // the same address on another port is not named: still refused
    assert.match(
      await refusal(outboundFetch(`${other.url}/data`, {}, { allowedHosts })),
      /loopback/,
    );
    // an allowed name is resolved and the request sent to that address, under its name
    const named = await outboundFetch(`http://localhost:${server.port}/named`, {}, {
      allowedHosts,
    });
    assert.equal(await named.text(), "inside");
    assert.deepEqual(server.seen, [
      { path: "/data", host: `127.0.0.1:${server.port}` },
      { path: "/named", host: `localhost:${server.port}` },
    ]);
    assert.deepEqual(other.seen, []);
    // a host without a port allows every port of it
    const anyPort = await outboundFetch(`${other.url}/any`, {}, {
      allowedHosts: parseAllowList("127.0.0.1"),
    });
    assert.equal(await anyPort.text(), "inside");
  } finally {
    await server.close();
    await other.close();
  }
});

/** Whether this machine has IPv6 loopback (some containers do not). */
function hasIpv6Loopback(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "outbound fetch: an allow-listed IPv6 host is reached at its checked address",
  ignore: !hasIpv6Loopback(),
  async fn() {
    const controller = new AbortController();
    const server = Deno.serve(
      { hostname: "::1", port: 0, signal: controller.signal, onListen: () => {} },
      (req) => new Response(`host=${req.headers.get("host")}`),
    );
    try {
      const url = `http://[::1]:${server.addr.port}/v6`;
      assert.match(await refusal(outboundFetch(url)), /::1 is a loopback address/);
      const allowedHosts = parseAllowList(`[::1]:${server.addr.port}`);
      const res = await outboundFetch(url, {}, { allowedHosts });
      assert.equal(await res.text(), `host=[::1]:${server.addr.port}`);
    } finally {
      controller.abort();
      await server.finished;
    }
  },
});

Deno.test("outbound fetch: each redirect is checked; one to a private host is refused, a loop ends", async () => {
  const inside = startServer(() => new Response("secret"));
  const outside = startServer((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/to-inside") {
      return Response.redirect(`http://localhost:${inside.port}/secret`, 302);
    }
    if (path === "/to-self") {
      return new Response(null, { status: 301, headers: { location: "/ok" } });
    }
    if (path === "/loop") {
      return new Response(null, { status: 307, headers: { location: "/loop" } });
    }
    return new Response(`landed on ${path}`);
  });
  try {
    const allowedHosts = parseAllowList(`127.0.0.1:${outside.port}`);
    const message = await refusal(outboundFetch(`${outside.url}/to-inside`, {}, { allowedHosts }));
    assert.match(message, /to-inside redirected; refused to fetch http:\/\/localhost:\d+\/secret/);
    assert.match(message, /localhost resolves to .*loopback/);
    assert.deepEqual(inside.seen, [], "the private host was never asked");

    const followed = await outboundFetch(`${outside.url}/to-self`, {}, { allowedHosts });
    assert.equal(await followed.text(), "landed on /ok");

    assert.match(
      await refusal(outboundFetch(`${outside.url}/loop`, {}, { allowedHosts })),
      new RegExp(`more than ${MAX_REDIRECTS} redirects`),
    );
    assert.equal(outside.seen.filter((s) => s.path === "/loop").length, MAX_REDIRECTS + 1);
  } finally {
    await inside.close();
    await outside.close();
  }
});

Deno.test("config: OUTBOUND_ALLOWED_HOSTS and its alias HTTP_TASK_ALLOWED_HOSTS add up; a bad entry stops start-up", () => {
  const config = loadConfig({
    OUTBOUND_ALLOWED_HOSTS: "127.0.0.1:8080, Internal.Example",
    HTTP_TASK_ALLOWED_HOSTS: "::1, [fd00::1]:9000",
  });
  assert.deepEqual(config.OUTBOUND_ALLOWED_HOSTS, [
    "127.0.0.1:8080",
    "internal.example",
    "[::1]",
    "[fd00::1]:9000",
  ]);
  assert.throws(
    () => loadConfig({ HTTP_TASK_ALLOWED_HOSTS: "http://x/y" }),
    (e: Error) =>
      e instanceof ConfigError && /HTTP_TASK_ALLOWED_HOSTS: 'http:\/\/x\/y'/.test(e.message),
  );
});

Deno.test("process_csv: a 127.0.0.1 url fails unrecoverably without the allow-list and is read with it", async () => {
  const csv = "name,score\nana,1\nbia,2\ncaio,3\n";
  const server = startServer(() => new Response(csv, { headers: { "content-type": "text/csv" } }));
  const closed = await startTestFila();
  const allowed = await startTestFila({
    env: { OUTBOUND_ALLOWED_HOSTS: `127.0.0.1:${server.port}` },
  });
  const aliased = await startTestFila({
    env: { HTTP_TASK_ALLOWED_HOSTS: `127.0.0.1:${server.port}` },
  });
  try {
    const payload = { url: `${server.url}/scores.csv` };
    const refused = await closed.post("/tasks", { type: "process_csv", payload });
    assert.equal(refused.status, 202);
    const failed = await closed.waitForTask(refused.body.id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.attempts, 1, "a refused address is not retried");
    assert.match(failed.error, /127\.0\.0\.1 is a loopback address/);
    assert.deepEqual(server.seen, [], "the refused task never reached the server");

    for (const fila of [allowed, aliased]) {
      const { body } = await fila.post("/tasks", { type: "process_csv", payload });
      const done = await fila.waitForTask(body.id);
      assert.equal(done.status, "succeeded", JSON.stringify(done));
      assert.equal(done.result.rows, 3);
      assert.equal(done.result.stats.score.sum, 6);
    }
    assert.equal(server.seen.length, 2);
  } finally {
    await closed.stop();
    await allowed.stop();
    await aliased.stop();
    await server.close();
  }
});
