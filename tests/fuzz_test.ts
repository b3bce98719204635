import assert from "node:assert/strict";
import { fc } from "./support/deps.ts";
import { startTestFila } from "./support/harness.ts";
import { startFakeAwesomeApi } from "./support/fake_awesomeapi.ts";

const hostileString = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.constantFrom(
    "' OR 1=1 --",
    "'; DROP TABLE tasks; --",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "\u0000\u0001\u001f",
    "%00",
    "😀🔥",
    "HIGH",
    "noop",
    "work",
    "process_csv",
    "__proto__",
    "constructor",
    "-1",
    "1e309",
    "NaN",
    "9".repeat(40),
  ),
  fc.string({ maxLength: 5 }).map((s) => s.repeat(20_000)),
);

/** URLs have practical limits on the client side too: keep path and query values short (the client refuses very long URLs). */
const urlString = hostileString.map((s) => s.slice(0, 500));

const jsonValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(hostileString, tie("value"), { maxKeys: 5 }),
  ),
})).value;

const taskLike = fc.record({
  type: fc.oneof(
    hostileString,
    fc.constantFrom("noop", "uppercase", "sum", "process_csv", "send_email"),
    jsonValue,
  ),
  payload: jsonValue,
  priority: fc.oneof(fc.constantFrom("high", "LOW", "urgent"), jsonValue),
  delay_ms: fc.oneof(fc.integer(), fc.double(), jsonValue),
  max_attempts: fc.oneof(fc.integer({ min: -5, max: 200 }), jsonValue),
}, { requiredKeys: [] });

function deeplyNested(depth: number): unknown {
  let v: unknown = "deep";
  for (let i = 0; i < depth; i++) v = { a: [v] };
  return v;
}

const body = fc.oneof(
  jsonValue.map((v) => JSON.stringify(v)),
  taskLike.map((v) => JSON.stringify(v)),
  fc.record({ tasks: fc.array(taskLike, { maxLength: 5 }) }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.integer({ min: 10, max: 5_000 }).map((d) =>
    JSON.stringify({ type: "noop", payload: deeplyNested(d) })
  ),
  fc.constant(undefined),
);

Deno.test("fuzz: 1,200 generated requests over every route — no 5xx, no hang, healthy after", async () => {
  const upstream = startFakeAwesomeApi();
  const fila = await startTestFila({ env: { ROLE: "api", QUOTES_API_URL: upstream.url } });
  try {
    const routes = fila.instance.app.routes.filter((r) => r.method !== "ALL");
    assert.ok(routes.length > 20);
    const request = fc.record({
      route: fc.constantFrom(...routes),
      param: urlString,
      query: fc.array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom(
              "status",
              "type",
              "priority",
              "limit",
              "offset",
              "skip",
              "pair",
              "from",
              "to",
              "filename",
              "num_rows",
              "region",
              "month",
              "email",
              "report_type",
            ),
            urlString,
          ),
          urlString,
        ),
        { maxLength: 4 },
      ),
      body,
      contentType: fc.constantFrom(
        "application/json",
        "text/plain",
        "application/json; charset=utf-8",
        "",
      ),
    });
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(request, async ({ route, param, query, body, contentType }) => {
        const path = route.path.replace(/:\w+/g, () => encodeURIComponent(param));
        const qs = new URLSearchParams(query).toString();
        const method = route.method;
        const res = await fila.fetch(`${path}${qs ? `?${qs}` : ""}`, {
          method,
          headers: contentType ? { "content-type": contentType } : {},
          body: method === "GET" || method === "HEAD" ? undefined : body,
          signal: AbortSignal.timeout(10_000),
        });
        const text = route.path.endsWith("/events") && res.status === 200
          ? (await res.body?.cancel(), "")
          : await res.text();
        sent++;
        assert.ok(
          res.status < 500,
          `${method} ${path}?${qs} → ${res.status} ${text.slice(0, 300)}`,
        );
        if (res.status >= 400 && !res.headers.get("content-type")?.includes("text/html")) {
          assert.ok(JSON.parse(text).error.message, `${method} ${path}: error without message`);
        }
      }),
      { numRuns: 1_200 },
    );
    assert.ok(sent >= 1_000);
    const big = await fila.fetch("/tasks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "uppercase", payload: { text: "x".repeat(1_100_000) } }),
    });
    assert.equal(big.status, 413);
    await big.body?.cancel();
    assert.equal((await fila.get("/health")).status, 200);
    const ok = await fila.post("/tasks", { type: "noop" });
    assert.equal(ok.status, 202);
  } finally {
    await fila.stop();
    await upstream.close();
  }
});
