import assert from "node:assert/strict";
import { retryDelayMs } from "../tasks/engine/backoff.ts";

Deno.test("backoff: the ceiling doubles per attempt up to the cap, with full jitter below it", () => {
  const top = () => 0.999999;
  assert.equal(retryDelayMs(1, 100, 10_000, top), 199);
  assert.equal(retryDelayMs(2, 100, 10_000, top), 399);
  assert.equal(retryDelayMs(5, 100, 10_000, top), 3199);
  assert.equal(retryDelayMs(20, 100, 10_000, top), 9999);
  assert.equal(retryDelayMs(3, 100, 10_000, () => 0), 1, "never zero");
  assert.equal(retryDelayMs(3, 100, 10_000, () => 0.5), 400);
  for (let i = 0; i < 1_000; i++) {
    const d = retryDelayMs(4, 100, 10_000);
    assert.ok(d >= 1 && d < 1_600, String(d));
  }
});
