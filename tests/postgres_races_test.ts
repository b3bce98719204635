/**
 * What libSQL's single writer rules out and PostgreSQL's concurrent writers do
 * not: two stores (two instances' pools) on one database, racing. A task
 * submitted with a dependency while another instance ends that dependency is
 * still resolved in one of the two transactions (not left to the sweeper's
 * safety net), and a type's concurrency limit holds when several instances
 * claim at the same moment (fila_turn, migration 0004).
 */
import assert from "node:assert/strict";
import { databaseUrl, usePostgres } from "./support/harness.ts";
import { openPostgresStore, type PostgresStore } from "../db/postgres/connect.ts";
import type { NewTask } from "../tasks/engine/store.ts";
import type { TypeLimit } from "../tasks/engine/model.ts";

usePostgres();

/** Two stores on a fresh database, closed after `body`. */
async function withStores(body: (a: PostgresStore, b: PostgresStore) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "fila-pg-races-" });
  const url = await databaseUrl("postgres", dir);
  const [a, b] = await Promise.all([openPostgresStore(url), openPostgresStore(url)]);
  try {
    await body(a, b);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await Deno.remove(dir, { recursive: true });
  }
}

function newTask(type: string, dependsOn: string[] = []): NewTask {
  const now = Date.now();
  return {
    id: crypto.randomUUID(),
    type,
    title: null,
    description: null,
    payload: {},
    status: "queued",
    priority: 1,
    maxAttempts: 1,
    timeoutMs: 60_000,
    runAt: now,
    idempotencyKey: null,
    requestId: null,
    resultTtlMs: null,
    dependsOn,
    createdAt: now,
  };
}

const claim = (
  workerId: string,
  limit: number,
  limits: TypeLimit[] = [],
) => ({
  workerId,
  limit,
  leaseMs: 60_000,
  limits,
});

Deno.test("races: a task submitted while its dependency ends on another instance is released or cancelled at once", async () => {
  await withStores(async (a, b) => {
    for (let round = 0; round < 40; round++) {
      const outcome = round % 2 === 0 ? "succeeded" : "failed";
      // high priority: claimed before the children released in earlier rounds
      const parent = { ...newTask(`parent_${round}`), priority: 0 };
      await a.tasks.turn({ inserts: [parent], ends: [], claim: null });
      const [claimed] = (await a.tasks.turn({
        inserts: [],
        ends: [],
        claim: { ...claim("worker-a", 1), limits: [] },
      })).claimed;
      assert.equal(claimed.id, parent.id);
      const children = Array.from({ length: 6 }, () => newTask("child", [parent.id]));
      const owner = { id: parent.id, workerId: "worker-a", attempt: 1 };
      // the worker read its task before the children existed: it does not know it has dependents
      const end = outcome === "succeeded"
        ? { ...owner, outcome, result: "{}" } as const
        : { ...owner, outcome, error: "boom" } as const;
      // the children's submits and the end at once, from both instances
      await Promise.all([
        ...children.slice(0, 3).map((child) =>
          b.tasks.turn({ inserts: [child], ends: [], claim: null })
        ),
        a.tasks.turn({ inserts: [], ends: [end], claim: null }),
        ...children.slice(3).map((child) =>
          a.tasks.turn({ inserts: [child], ends: [], claim: null })
        ),
      ]);
      for (const child of children) {
        const stored = await b.tasks.get(child.id);
        if (outcome === "succeeded") {
          assert.equal(stored?.status, "queued", `round ${round}: ${JSON.stringify(stored)}`);
        } else {
          assert.equal(stored?.status, "cancelled", `round ${round}: ${JSON.stringify(stored)}`);
          assert.equal(stored?.error, `dependency ${parent.id} did not succeed (failed)`);
        }
      }
    }
    assert.equal(await a.tasks.resolveBlocked(Date.now()), 0, "left for the safety net");
  });
});

Deno.test("races: a type's concurrency limit holds while two instances claim at once", async () => {
  await withStores(async (a, b) => {
    const limit = {
      type: "limited",
      concurrency: 3,
      ratePerMinute: null,
      paused: false,
      updatedAt: Date.now(),
    };
    await a.tasks.setTypeLimit(limit);
    for (let round = 0; round < 15; round++) {
      await a.tasks.turn({
        inserts: [
          ...Array.from({ length: 20 }, () => newTask("limited")),
          ...Array.from({ length: 2 }, () => newTask("free")),
        ],
        ends: [],
        claim: null,
      });
      // eight claims at once, four through each instance's pool
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? a : b).tasks.turn({
            inserts: [],
            ends: [],
            claim: claim(`worker-${i}`, 10, [limit]),
          }).then((turn) => turn.claimed.map((task) => ({ task, workerId: `worker-${i}` })))),
      );
      const taken = claims.flat();
      const limited = taken.filter((t) => t.task.type === "limited");
      assert.equal(limited.length, 3, `round ${round}`);
      assert.equal(taken.filter((t) => t.task.type === "free").length, 2, `round ${round}`);
      assert.equal(new Set(taken.map((t) => t.task.id)).size, taken.length, "a task claimed twice");
      const usage = await b.tasks.typeUsage(Date.now());
      assert.equal(usage.find((u) => u.type === "limited")?.running, 3);
      // the limited ones end: the next round starts with none running
      const ends = limited.map(({ task, workerId }) => ({
        id: task.id,
        workerId,
        attempt: 1,
        outcome: "succeeded" as const,
        result: "{}",
      }));
      await a.tasks.turn({ inserts: [], ends, claim: null });
    }
  });
});
