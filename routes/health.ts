/**
 * /health: 200 while the database and KV answer, 503 when either does not.
 * Other parts (quotes, the sweeper) add checks that degrade without failing.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { newRouter } from "./env.ts";

export interface CheckResult {
  ok: boolean;
  latency_ms?: number;
  error?: string;
  [detail: string]: unknown;
}

/** A named probe; `critical` ones turn the answer into 503 when they fail. */
export interface HealthCheck {
  name: string;
  critical: boolean;
  run(): Promise<CheckResult>;
}

const CHECK_TIMEOUT_MS = 2_000;

const healthSchema = z.object({
  status: z.enum(["ok", "degraded", "down"]),
  checks: z.record(z.string(), z.object({ ok: z.boolean() }).passthrough()),
  version: z.string(),
  instance: z.string(),
  uptime_s: z.number(),
}).openapi("Health");

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  tags: ["operations"],
  summary: "Liveness and readiness",
  responses: {
    200: {
      content: { "application/json": { schema: healthSchema } },
      description: "Up (maybe degraded)",
    },
    503: {
      content: { "application/json": { schema: healthSchema } },
      description: "Database or KV down",
    },
  },
});

async function runCheck(check: HealthCheck): Promise<CheckResult> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const result = await Promise.race([
      check.run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { ...result, latency_ms: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter(options: {
  healthChecks: HealthCheck[];
  version: string;
  instance: string;
  startedAt: number;
}) {
  const app = newRouter();
  app.openapi(healthRoute, async (c) => {
    const results = await Promise.all(options.healthChecks.map(runCheck));
    const checks = Object.fromEntries(
      options.healthChecks.map((check, i) => [check.name, results[i]]),
    );
    const criticalDown = options.healthChecks.some((check, i) => check.critical && !results[i].ok);
    const anyDown = results.some((r) => !r.ok);
    const status = criticalDown ? "down" : anyDown ? "degraded" : "ok";
    return c.json({
      status,
      checks,
      version: options.version,
      instance: options.instance,
      uptime_s: Math.round((Date.now() - options.startedAt) / 1000),
    }, criticalDown ? 503 : 200);
  });
  return app;
}
