/**
 * The `http` task type against a real local upstream (127.0.0.1, a free port, started
 * and stopped here) and real Fila instances: signing, retries as the answer says,
 * the 64 KiB cap, the host checks at submit and at run time, redirects, cancel.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { ConfigError, loadConfig } from "../config.ts";
import { MAX_RETRY_AFTER_MS } from "../tasks/clients/quotes_client.ts";
import { MAX_RESULT_BODY_BYTES } from "../tasks/types/http.ts";
import { type Json, startTestFila, type TestFila } from "./support/harness.ts";

const SECRET = "test-secret-0123456789abcdef";

interface Seen {
  method: string;
  path: string;
  headers: Headers;
  body: Uint8Array;
  /** When the request reached the upstream (epoch ms). */
  at: number;
}

/** A real upstream that records every request (its body read in full) before answering. */
function startUpstream(
  answer: (seen: Seen, index: number) => Response | Promise<Response> = () => new Response("ok"),
  port = 0,
) {
  const controller = new AbortController();
  const seen: Seen[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: controller.signal, onListen: () => {} },
    async (req) => {
      const request: Seen = {
        method: req.method,
        path: new URL(req.url).pathname,
        headers: req.headers,
        body: new Uint8Array(await req.arrayBuffer()),
        at: Date.now(),
      };
      seen.push(request);
      return await answer(request, seen.length - 1);
    },
  );
  const bound = server.addr.port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    host: `127.0.0.1:${bound}`,
    seen,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

type Upstream = ReturnType<typeof startUpstream>;

/** A Fila that signs with SECRET and may reach the given upstreams. */
function filaFor(upstreams: Upstream[], env: Record<string, string> = {}): Promise<TestFila> {
  return startTestFila({
    env: {
      HTTP_TASK_SECRET: SECRET,
      HTTP_TASK_ALLOWED_HOSTS: upstreams.map((u) => u.host).join(","),
      ...env,
    },
  });
}

async function submit(fila: TestFila, payload: unknown, extra: Record<string, unknown> = {}) {
  const res = await fila.post("/tasks", { type: "http", payload, ...extra });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id as string;
}

/** Checks a Fila-Signature the way a receiver does: recompute, compare in constant time. */
function verifySignature(seen: Seen, secret: string): { t: number } {
  const header = seen.headers.get("fila-signature");
  assert.ok(header, "the request carries Fila-Signature");
  const match = header.match(/^t=(\d+),v1=([0-9a-f]{64})$/);
  assert.ok(match, `Fila-Signature has the form t=<seconds>,v1=<hex>: ${header}`);
  const t = Number(match[1]);
  const expected = createHmac("sha256", secret).update(`${t}.`).update(seen.body).digest();
  assert.ok(
    timingSafeEqual(expected, Buffer.from(match[2], "hex")),
    "the signature verifies with the secret over <t>.<raw body>",
  );
  return { t };
}

async function eventually(check: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("http: requests are signed over <t>.<raw body>; a JSON body goes as application/json, a string as it is; Fila-Task-Id and Fila-Attempt are sent", async () => {
  const upstream = startUpstream(() =>
    new Response(JSON.stringify({ received: true }), {
      headers: {
        "content-type": "application/json",
        "x-request-id": "req-42",
        "set-cookie": "session=secret",
      },
    })
  );
  const fila = await filaFor([upstream]);
  try {
    const jsonBody = { event: "invoice.paid", amount: 12.5, tags: ["a", "é"] };
    const jsonId = await submit(fila, {
      url: `${upstream.url}/hooks/json`,
      headers: { "X-Custom": "yes", Authorization: "Bearer receiver-token" },
      body: jsonBody,
    });
    const done = await fila.waitForTask(jsonId);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    const [json] = upstream.seen;
    assert.equal(json.method, "POST", "POST is the default method");
    assert.equal(json.headers.get("content-type"), "application/json");
    assert.equal(new TextDecoder().decode(json.body), JSON.stringify(jsonBody));
    assert.equal(json.headers.get("x-custom"), "yes");
    assert.equal(json.headers.get("authorization"), "Bearer receiver-token");
    assert.equal(json.headers.get("fila-task-id"), jsonId);
    assert.equal(json.headers.get("fila-attempt"), "1");
    const { t } = verifySignature(json, SECRET);
    assert.ok(Math.abs(t - Date.now() / 1000) < 300, "t is the sending time in unix seconds");
    assert.throws(() => verifySignature(json, "another-secret-0123456789"), "a wrong key fails");

    assert.equal(done.result.status, 200);
    assert.deepEqual(done.result.headers, {
      "content-type": "application/json",
      "content-length": String(JSON.stringify({ received: true }).length),
      "x-request-id": "req-42",
    }, "selected headers only: no set-cookie");
    assert.equal(done.result.body, '{"received":true}');
    assert.equal(done.result.body_encoding, "utf-8");
    assert.equal(done.result.truncated, false);
    assert.equal(done.result.signed, true);

    // a string body is sent byte for byte, under the content type the payload names
    const text = '{"already":"serialised"}  \n';
    const textId = await submit(fila, {
      url: `${upstream.url}/hooks/text`,
      method: "PUT",
      headers: { "content-type": "application/vnd.custom+json" },
      body: text,
    });
    assert.equal((await fila.waitForTask(textId)).status, "succeeded");
    const sent = upstream.seen[1];
    assert.equal(sent.method, "PUT");
    assert.equal(sent.headers.get("content-type"), "application/vnd.custom+json");
    assert.equal(new TextDecoder().decode(sent.body), text);
    verifySignature(sent, SECRET);

    // no body: the signature covers "<t>." alone
    const getId = await submit(fila, { url: `${upstream.url}/hooks/get`, method: "GET" });
    assert.equal((await fila.waitForTask(getId)).status, "succeeded");
    const get = upstream.seen[2];
    assert.equal(get.method, "GET");
    assert.equal(get.body.byteLength, 0);
    verifySignature(get, SECRET);
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: without HTTP_TASK_SECRET requests go unsigned and the result says so", async () => {
  const upstream = startUpstream();
  const fila = await startTestFila({ env: { HTTP_TASK_ALLOWED_HOSTS: upstream.host } });
  try {
    const id = await submit(fila, { url: `${upstream.url}/x`, body: { a: 1 } });
    const done = await fila.waitForTask(id);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.equal(done.result.signed, false);
    assert.equal(upstream.seen[0].headers.get("fila-signature"), null);
    assert.equal(upstream.seen[0].headers.get("fila-task-id"), id);
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: a 503 then a 200 is retried and succeeds; Fila-Attempt counts up under one Fila-Task-Id, each attempt signed anew", async () => {
  const upstream = startUpstream((_, i) =>
    i === 0 ? new Response("busy", { status: 503 }) : new Response("done")
  );
  const fila = await filaFor([upstream]);
  try {
    const id = await submit(fila, { url: `${upstream.url}/flaky`, body: "x" });
    const done = await fila.waitForTask(id);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.equal(done.attempts, 2);
    assert.equal(done.result.attempt, 2);
    assert.equal(done.result.body, "done");
    assert.deepEqual(upstream.seen.map((s) => s.headers.get("fila-attempt")), ["1", "2"]);
    assert.deepEqual(upstream.seen.map((s) => s.headers.get("fila-task-id")), [id, id]);
    for (const seen of upstream.seen) verifySignature(seen, SECRET);
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: a 429 with Retry-After: 1 is retried no sooner than a second later", async () => {
  const upstream = startUpstream((_, i) =>
    i === 0
      ? new Response("slow down", { status: 429, headers: { "retry-after": "1" } })
      : new Response("ok")
  );
  // backoff alone would retry within RETRY_MAX_MS = 200 ms: only Retry-After makes it wait
  const fila = await filaFor([upstream], { RETRY_BASE_MS: "20", RETRY_MAX_MS: "200" });
  try {
    const id = await submit(fila, { url: `${upstream.url}/limited` });
    const done = await fila.waitForTask(id);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.equal(upstream.seen.length, 2);
    const waited = upstream.seen[1].at - upstream.seen[0].at;
    assert.ok(waited >= 1000, `the retry came ${waited} ms after the 429, before Retry-After`);
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: a Retry-After past an hour is capped at an hour", async () => {
  const upstream = startUpstream(() =>
    new Response("maintenance", { status: 503, headers: { "retry-after": "999999999" } })
  );
  const fila = await filaFor([upstream]);
  try {
    const id = await submit(fila, { url: `${upstream.url}/down` });
    const waiting = await fila.waitForTask(id, (t: Json) => t.status === "retrying");
    const wait = Date.parse(waiting.run_at) - Date.parse(waiting.updated_at);
    assert.ok(wait <= MAX_RETRY_AFTER_MS + 1000, `retry in ${wait} ms: not capped`);
    assert.ok(wait >= MAX_RETRY_AFTER_MS - 60_000, `retry in ${wait} ms: Retry-After ignored`);
    assert.match(waiting.error, /answered 503 .*maintenance/);
    const cancel = await fila.fetch(`/tasks/${id}`, { method: "DELETE" });
    await cancel.body?.cancel();
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: a 404 fails after one attempt, quoting the answer", async () => {
  const upstream = startUpstream(() => new Response("no such hook", { status: 404 }));
  const fila = await filaFor([upstream]);
  try {
    const id = await submit(fila, { url: `${upstream.url}/missing`, body: { a: 1 } });
    const failed = await fila.waitForTask(id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.max_attempts, 5, "the type's default");
    assert.equal(failed.attempts, 1, "a 404 is not retried");
    assert.equal(upstream.seen.length, 1);
    assert.match(
      failed.error,
      /^POST http:\/\/127\.0\.0\.1:\d+\/missing answered 404 .*no such hook/,
    );
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: a refused connection is retried, and the attempt after the upstream comes up succeeds", async () => {
  // a free port with nothing on it yet
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const fila = await startTestFila({
    env: { HTTP_TASK_SECRET: SECRET, HTTP_TASK_ALLOWED_HOSTS: `127.0.0.1:${port}` },
  });
  let upstream: Upstream | null = null;
  try {
    const id = await submit(fila, { url: `http://127.0.0.1:${port}/late` }, { max_attempts: 20 });
    const retrying = await fila.waitForTask(id, (t: Json) => t.status === "retrying");
    assert.match(retrying.error, /POST http:\/\/127\.0\.0\.1:\d+\/late: .*connection refused/i);
    // the upstream comes up on that port
    upstream = startUpstream(() => new Response("up now"), port);
    const done = await fila.waitForTask(id);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.ok(done.attempts >= 2, "retried after the refused connection");
    assert.deepEqual(
      upstream.seen.map((s) => s.headers.get("fila-attempt")),
      [String(done.attempts)],
      "only the last attempt reached it",
    );
  } finally {
    await fila.stop();
    await upstream?.close();
  }
});

Deno.test("http: an answer slower than timeout_ms is retried, then fails naming the timeout", async () => {
  const upstream = startUpstream(async () => {
    await new Promise((r) => setTimeout(r, 1500));
    return new Response("too late");
  });
  const fila = await filaFor([upstream]);
  try {
    const id = await submit(fila, { url: `${upstream.url}/slow`, timeout_ms: 200 }, {
      max_attempts: 2,
    });
    const failed = await fila.waitForTask(id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.attempts, 2, "a timeout is retried");
    assert.match(failed.error, /no complete answer within 200 ms \(timeout_ms\)/);
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: a 100 KiB answer is kept to its first 64 KiB, flagged truncated", async () => {
  const big = "0123456789abcdef".repeat(100 * 1024 / 16);
  const upstream = startUpstream(() =>
    new Response(big, { headers: { "content-type": "text/plain" } })
  );
  const fila = await filaFor([upstream]);
  try {
    const id = await submit(fila, { url: `${upstream.url}/big`, method: "GET" });
    const done = await fila.waitForTask(id);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    assert.equal(done.result.truncated, true);
    assert.equal(done.result.body_bytes, MAX_RESULT_BODY_BYTES);
    assert.equal(done.result.body, big.slice(0, MAX_RESULT_BODY_BYTES));
    assert.equal(done.result.headers["content-length"], String(100 * 1024));
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: an endless answer is cut at 64 KiB and its stream cancelled, not read to the end", async () => {
  let cancelled = false;
  const upstream = startUpstream(() => {
    const chunk = new TextEncoder().encode("y".repeat(4096));
    return new Response(
      new ReadableStream<Uint8Array>({
        pull: (c) => c.enqueue(chunk),
        cancel: () => {
          cancelled = true;
        },
      }),
    );
  });
  const fila = await filaFor([upstream]);
  try {
    const id = await submit(fila, { url: `${upstream.url}/endless`, method: "GET" });
    const done = await fila.waitForTask(id);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    assert.equal(done.result.truncated, true);
    assert.equal(done.result.body.length, MAX_RESULT_BODY_BYTES);
    await eventually(() => cancelled, "the upstream's stream is cancelled");
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: a literal loopback, private or metadata URL is a 400 naming payload unless allow-listed", async () => {
  const upstream = startUpstream();
  const closed = await startTestFila({ env: { HTTP_TASK_SECRET: SECRET } });
  const open = await filaFor([upstream]);
  try {
    for (
      const url of [
        `${upstream.url}/hook`,
        `http://[::1]:${upstream.port}/hook`,
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/hook",
        "http://[::ffff:127.0.0.1]/hook",
      ]
    ) {
      const res = await closed.post("/tasks", { type: "http", payload: { url } });
      assert.equal(res.status, 400, `${url}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.details.issues[0].path, "payload", url);
      assert.match(
        res.body.error.details.issues[0].message,
        /refused to fetch .*(loopback|metadata|private)/,
      );
    }
    // the same URL with its host:port allow-listed goes through
    const id = await submit(open, { url: `${upstream.url}/hook` });
    assert.equal((await open.waitForTask(id)).status, "succeeded");
    assert.equal(upstream.seen.length, 1, "only the allow-listed instance reached it");
  } finally {
    await closed.stop();
    await open.stop();
    await upstream.close();
  }
});

Deno.test("http: a name resolving to loopback (localhost) fails at run time, at once, never reaching the upstream", async () => {
  const upstream = startUpstream();
  const fila = await startTestFila({ env: { HTTP_TASK_SECRET: SECRET } });
  try {
    // a name is accepted at submit: only its resolution can judge it
    const id = await submit(fila, { url: `http://localhost:${upstream.port}/hook` });
    const failed = await fila.waitForTask(id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.attempts, 1, "a refused address is not retried");
    assert.match(failed.error, /localhost resolves to .*loopback/);
    assert.deepEqual(upstream.seen, []);
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: a same-origin redirect keeps the signature, one to another origin drops it, one to a private host fails", async () => {
  const other = startUpstream(() => new Response("other origin"));
  const inside = startUpstream(() => new Response("secret"));
  const upstream = startUpstream((seen) => {
    if (seen.path === "/moved") {
      return new Response(null, { status: 308, headers: { location: "/new-home" } });
    }
    if (seen.path === "/away") {
      return new Response(null, { status: 307, headers: { location: `${other.url}/landing` } });
    }
    if (seen.path === "/inside") {
      return Response.redirect(`http://localhost:${inside.port}/secret`, 302);
    }
    return new Response(`landed on ${seen.path}`);
  });
  const fila = await filaFor([upstream, other]);
  try {
    const moved = await fila.waitForTask(
      await submit(fila, { url: `${upstream.url}/moved`, body: { n: 1 } }),
    );
    assert.equal(moved.status, "succeeded", JSON.stringify(moved));
    assert.equal(moved.result.body, "landed on /new-home");
    assert.match(moved.result.url, /\/new-home$/);
    const landed = upstream.seen.find((s) => s.path === "/new-home")!;
    assert.equal(new TextDecoder().decode(landed.body), '{"n":1}', "a 308 keeps the body");
    verifySignature(landed, SECRET);

    const away = await fila.waitForTask(
      await submit(fila, { url: `${upstream.url}/away`, body: { n: 2 } }),
    );
    assert.equal(away.status, "succeeded", JSON.stringify(away));
    assert.equal(other.seen.length, 1);
    assert.equal(other.seen[0].headers.get("fila-signature"), null, "not sent to another origin");
    assert.equal(other.seen[0].headers.get("fila-task-id"), away.id);

    const refused = await fila.waitForTask(await submit(fila, { url: `${upstream.url}/inside` }));
    assert.equal(refused.status, "failed");
    assert.equal(refused.attempts, 1);
    assert.match(refused.error, /redirected; refused to fetch http:\/\/localhost:\d+\/secret/);
    assert.deepEqual(inside.seen, []);
  } finally {
    await fila.stop();
    await upstream.close();
    await other.close();
    await inside.close();
  }
});

/** A bare TCP server that keeps each request's head as it came on the wire. */
function startRawUpstream() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[][] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      let text = "";
      const buffer = new Uint8Array(65_536);
      while (!text.includes("\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      heads.push(text.split("\r\n\r\n")[0].split("\r\n"));
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        ),
      );
      conn.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    heads,
    async close() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("http: the receiver gets an ordinary request line (POST /path) with the URL's host in Host, by address or by name", async () => {
  const raw = startRawUpstream();
  const fila = await startTestFila({
    env: {
      HTTP_TASK_SECRET: SECRET,
      HTTP_TASK_ALLOWED_HOSTS: `127.0.0.1:${raw.port},localhost:${raw.port}`,
    },
  });
  try {
    for (const host of [`127.0.0.1:${raw.port}`, `localhost:${raw.port}`]) {
      const id = await submit(fila, { url: `http://${host}/hooks/raw?x=1`, body: "b" });
      const done = await fila.waitForTask(id);
      assert.equal(done.status, "succeeded", JSON.stringify(done));
      assert.equal(done.result.url, `http://${host}/hooks/raw?x=1`, "the URL asked for");
      const head = raw.heads.at(-1)!;
      assert.equal(head[0], "POST /hooks/raw?x=1 HTTP/1.1", "origin-form, not absolute-form");
      assert.ok(head.includes(`host: ${host}`), JSON.stringify(head));
    }
  } finally {
    await fila.stop();
    await raw.close();
  }
});

Deno.test("http: cancelling a task while the upstream is still sending stops the request", async () => {
  let sending = false;
  let cancelled = false;
  const timers: ReturnType<typeof setInterval>[] = [];
  const upstream = startUpstream(() => {
    // answers at once, then trickles: 64 KiB would take minutes
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        sending = true;
        timers.push(setInterval(() => c.enqueue(new TextEncoder().encode("z")), 50));
      },
      cancel() {
        cancelled = true;
        timers.forEach(clearInterval);
      },
    });
    return new Response(body);
  });
  const fila = await filaFor([upstream]);
  try {
    const id = await submit(fila, { url: `${upstream.url}/trickle`, method: "GET" });
    await eventually(() => sending, "the upstream starts answering");
    const res = await fila.fetch(`/tasks/${id}`, { method: "DELETE" });
    assert.ok(res.status < 300, `cancel answered ${res.status}`);
    await res.body?.cancel();
    const ended = await fila.waitForTask(id);
    assert.equal(ended.status, "cancelled");
    // the request's own timeout is 30 s: only the cancel can end the transfer this soon
    await eventually(() => cancelled, "the upstream sees the request go away", 5_000);
  } finally {
    timers.forEach(clearInterval);
    await fila.stop();
    await upstream.close();
  }
});

Deno.test("http: payloads the type cannot send are 400s naming the field", async () => {
  const fila = await startTestFila({ env: { HTTP_TASK_SECRET: SECRET } });
  try {
    const cases: [unknown, RegExp][] = [
      [{ url: "https://example.com/x", method: "GET", body: "x" }, /^payload\.body$/],
      [{ url: "https://example.com/x", method: "post" }, /^payload\.method$/],
      [{ url: "https://example.com/x", headers: { "Fila-Attempt": "9" } }, /^payload\.headers/],
      [{ url: "https://example.com/x", headers: { Host: "evil" } }, /^payload\.headers/],
      [{ url: "https://example.com/x", headers: { "X-A": "1\r\nX-B: 2" } }, /^payload\.headers/],
      [{ url: "https://user:pw@example.com/x" }, /^payload\.url$/],
      [{ url: "ftp://example.com/x" }, /^payload\.url$/],
      [{ url: "https://example.com/x", timeout_ms: 3_600_000 }, /^payload\.timeout_ms$/],
      [{ url: "https://example.com/x", extra: 1 }, /^payload/],
    ];
    for (const [payload, path] of cases) {
      const res = await fila.post("/tasks", { type: "http", payload });
      assert.equal(res.status, 400, JSON.stringify(payload));
      assert.match(res.body.error.details.issues[0].path, path, JSON.stringify(res.body));
    }
  } finally {
    await fila.stop();
  }
});

Deno.test("config: HTTP_TASK_SECRET is optional, and one under 16 characters stops start-up naming it", () => {
  assert.equal(loadConfig({}).HTTP_TASK_SECRET, undefined);
  assert.equal(loadConfig({ HTTP_TASK_SECRET: SECRET }).HTTP_TASK_SECRET, SECRET);
  assert.throws(
    () => loadConfig({ HTTP_TASK_SECRET: "short" }),
    (e: Error) =>
      e instanceof ConfigError && /HTTP_TASK_SECRET: must be at least 16/.test(e.message),
  );
});
