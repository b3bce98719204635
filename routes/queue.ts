/** GET /queue/stats: what Flower shows -- counts, waiting age, throughput, instances. */
import { createRoute, z } from "@hono/zod-openapi";
import type { Engine } from "../tasks/engine/engine.ts";
import {
  PRIORITIES,
  priorityName,
  TASK_STATUSES,
  WAITING_STATUSES,
} from "../tasks/engine/model.ts";
import { newRouter } from "./env.ts";
import { STORE_FAILURES } from "./openapi.ts";

const statsSchema = z.object({
  generated_at: z.string(),
  counts: z.object({
    by_status: z.record(z.string(), z.number().int()),
    by_priority: z.record(z.string(), z.number().int()).openapi({
      description: "Tasks waiting or running",
    }),
    by_type: z.record(z.string(), z.number().int()),
  }),
  waiting: z.object({ total: z.number().int(), oldest_age_ms: z.number().nullable() }),
  last_minute: z.object({
    finished: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    per_second: z.number(),
  }),
  throughput: z.array(
    z.object({ minute: z.string(), succeeded: z.number().int(), failed: z.number().int() }),
  ),
  instances: z.array(z.object({
    id: z.string(),
    role: z.string(),
    driver: z.string(),
    concurrency: z.number().int(),
    in_flight: z.number().int(),
    started_at: z.string(),
    last_heartbeat: z.string(),
  })),
}).openapi("QueueStats");

const statsRoute = createRoute({
  method: "get",
  path: "/queue/stats",
  operationId: "getQueueStats",
  tags: ["operations"],
  summary: "Queue statistics: counts, oldest waiting task, throughput, instances",
  responses: {
    200: { content: { "application/json": { schema: statsSchema } }, description: "Statistics" },
    ...STORE_FAILURES,
  },
});

const MINUTE = 60_000;
const WINDOW_MINUTES = 15;

/** Builds the stats answer from the engine's (briefly shared) counts. */
export async function queueStats(engine: Engine) {
  const now = Date.now();
  const since = Math.floor(now / MINUTE) * MINUTE - (WINDOW_MINUTES - 1) * MINUTE;
  const [counts, alive] = await Promise.all([engine.counts(since), engine.instances()]);
  const byStatus = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0]));
  for (const row of counts.byStatus) byStatus[row.status] = row.n;
  const byPriority = Object.fromEntries(PRIORITIES.map((p) => [p, 0]));
  for (const row of counts.activeByPriority) byPriority[priorityName(row.priority)] += row.n;
  const minutes = new Map<number, { succeeded: number; failed: number }>();
  for (let m = since; m <= now; m += MINUTE) minutes.set(m, { succeeded: 0, failed: 0 });
  for (const row of counts.finishedPerMinute) {
    const slot = minutes.get(row.minute);
    if (slot && (row.status === "succeeded" || row.status === "failed")) slot[row.status] += row.n;
  }
  const lastMinute = counts.finishedLastMinute;
  const count = (status: string) =>
    lastMinute.filter((r) => r.status === status).reduce((n, r) => n + r.n, 0);
  const finished = lastMinute.reduce((n, r) => n + r.n, 0);
  const oldest = counts.oldestDueRunAt;
  return {
    generated_at: new Date(now).toISOString(),
    counts: {
      by_status: byStatus,
      by_priority: byPriority,
      by_type: Object.fromEntries(counts.byType.map((r) => [r.type, r.n])),
    },
    waiting: {
      total: WAITING_STATUSES.reduce((n, s) => n + (byStatus[s] ?? 0), 0),
      oldest_age_ms: oldest === null ? null : Math.max(0, now - oldest),
    },
    last_minute: {
      finished,
      succeeded: count("succeeded"),
      failed: count("failed"),
      per_second: Math.round((finished / 60) * 100) / 100,
    },
    throughput: [...minutes.entries()].map(([m, v]) => ({
      minute: new Date(m).toISOString(),
      ...v,
    })),
    instances: alive,
  };
}

export function queueRouter(engine: Engine) {
  const app = newRouter();
  app.openapi(statsRoute, async (c) => c.json(await queueStats(engine), 200));
  return app;
}
