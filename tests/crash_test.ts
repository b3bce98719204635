import assert from "node:assert/strict";
import { clientFor, comboEnv, spawnFila, storeCombos } from "./support/harness.ts";

for (const combo of storeCombos()) {
  Deno.test(`[${combo.name}] crash: a task whose instance is SIGKILLed is finished by another after its lease expires`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fila-crash-" });
    const env = { ...await comboEnv(combo, dir), LEASE_MS: "1500", LOG_LEVEL: "fatal" };
    const first = await spawnFila(env);
    let second;
    try {
      const api = clientFor(first.url!);
      const { body } = await api.post("/tasks", { type: "test_sleep", payload: { ms: 2_500 } });
      await api.waitForTask(body.id, (t) => t.status === "running" && t.attempts === 1);
      first.kill("SIGKILL");
      await first.exited;
      second = await spawnFila(env);
      const done = await clientFor(second.url!).waitForTask(body.id, undefined, 30_000);
      assert.equal(done.status, "succeeded");
      assert.equal(done.attempts, 2);
      assert.notEqual(done.worker_id, body.worker_id);
    } finally {
      first.kill("SIGKILL");
      second?.kill("SIGKILL");
      await second?.exited;
      await Deno.remove(dir, { recursive: true });
    }
  });
}

for (const combo of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${combo.name}] shutdown: SIGTERM hands a running task back to queued and another instance finishes it`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fila-term-" });
    const env = { ...await comboEnv(combo, dir), SHUTDOWN_GRACE_MS: "200", LOG_LEVEL: "fatal" };
    const first = await spawnFila(env);
    let second;
    try {
      const api = clientFor(first.url!);
      const { body } = await api.post("/tasks", { type: "test_sleep", payload: { ms: 3_000 } });
      await api.waitForTask(body.id, (t) => t.status === "running");
      first.kill("SIGTERM");
      const status = await first.exited;
      assert.equal(status.code, 0);
      second = await spawnFila({ ...env, ROLE: "api" });
      const handedBack = await clientFor(second.url!).get(`/tasks/${body.id}`);
      assert.equal(handedBack.body.status, "queued");
      assert.equal(handedBack.body.attempts, 0);
      second.kill("SIGTERM");
      await second.exited;
      second = await spawnFila(env);
      const done = await clientFor(second.url!).waitForTask(body.id, undefined, 30_000);
      assert.equal(done.status, "succeeded");
      assert.equal(done.attempts, 1);
    } finally {
      first.kill("SIGKILL");
      second?.kill("SIGKILL");
      await second?.exited;
      await Deno.remove(dir, { recursive: true });
    }
  });
}
