import assert from "node:assert/strict";
import { startTestFila } from "./support/harness.ts";

Deno.test("bad input: every malformed submission gets a 4xx JSON error, never a 500", async () => {
  const fila = await startTestFila({ env: { ROLE: "api" } });
  try {
    const cases: [string, BodyInit, number, Record<string, string>?][] = [
      ["malformed JSON", "{bad", 400],
      ["not an object", "[1,2]", 400],
      ["no type", JSON.stringify({ payload: {} }), 400],
      ["unknown type", JSON.stringify({ type: "nope" }), 400],
      ["type of wrong type", JSON.stringify({ type: 42 }), 400],
      ["payload of wrong shape", JSON.stringify({ type: "sum", payload: { numbers: "1,2" } }), 400],
      ["unknown priority", JSON.stringify({ type: "noop", priority: "urgent" }), 400],
      ["negative delay", JSON.stringify({ type: "noop", delay_ms: -1 }), 400],
      ["delay over 30 days", JSON.stringify({ type: "noop", delay_ms: 31 * 86_400_000 }), 400],
      [
        "run_at over 30 days",
        JSON.stringify({
          type: "noop",
          run_at: new Date(Date.now() + 31 * 86_400_000).toISOString(),
        }),
        400,
      ],
      ["run_at not a date", JSON.stringify({ type: "noop", run_at: "tomorrow" }), 400],
      [
        "delay and run_at",
        JSON.stringify({ type: "noop", delay_ms: 5, run_at: new Date().toISOString() }),
        400,
      ],
      ["max_attempts 0", JSON.stringify({ type: "noop", max_attempts: 0 }), 400],
      ["max_attempts 1000", JSON.stringify({ type: "noop", max_attempts: 1000 }), 400],
      ["timeout too small", JSON.stringify({ type: "noop", timeout_ms: 1 }), 400],
      ["unknown field", JSON.stringify({ type: "noop", priorty: "high" }), 400],
      [
        "huge string",
        JSON.stringify({ type: "uppercase", payload: { text: "x".repeat(200_000) } }),
        400,
      ],
      ["huge title", JSON.stringify({ type: "noop", title: "t".repeat(10_000) }), 400],
      [
        "2 MB body",
        JSON.stringify({ type: "uppercase", payload: { text: "y".repeat(2_000_000) } }),
        413,
      ],
      ["no content type", JSON.stringify({ type: "noop" }), 415, { "content-type": "text/plain" }],
    ];
    for (const [name, body, expected, headers] of cases) {
      const res = await fila.fetch("/tasks", {
        method: "POST",
        headers: headers ?? { "content-type": "application/json" },
        body,
      });
      const text = await res.text();
      assert.equal(res.status, expected, `${name}: ${res.status} ${text.slice(0, 300)}`);
      const json = JSON.parse(text);
      assert.equal(typeof json.error.code, "string", name);
      assert.ok(json.error.message.length > 0, name);
    }
    for (
      const query of [
        "limit=0",
        "limit=101",
        "limit=abc",
        "offset=-1",
        "status=bogus",
        "priority=urgent",
      ]
    ) {
      const res = await fila.get(`/tasks?${query}`);
      assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.body)}`);
      assert.ok(res.body.error.message);
    }
    // the body limit runs before routing: routes that read no body refuse a big one too,
    // as the document says (fila.fetch checks every answer against it)
    for (const [method, path] of [["POST", "/process-csv"], ["DELETE", "/tasks/x"]]) {
      const res = await fila.fetch(path, { method, body: "z".repeat(2_000_000) });
      assert.equal(res.status, 413, `${method} ${path}`);
      assert.equal((await res.json()).error.code, "payload_too_large");
    }
    const notFound = await fila.get("/no/such/route");
    assert.equal(notFound.status, 404);
    assert.equal(notFound.body.error.code, "not_found");
    assert.equal((await fila.get("/tasks")).body.total, 0, "a rejected submission was stored");
  } finally {
    await fila.stop();
  }
});
