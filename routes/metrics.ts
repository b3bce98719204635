/** GET /metrics (Prometheus text) and the middleware that times every request. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { FilaMetrics } from "../tasks/engine/metrics.ts";

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["operations"],
  summary: "Prometheus metrics",
  responses: {
    200: {
      content: { "text/plain": { schema: z.string() } },
      description: "Prometheus text format",
    },
  },
});

export function metricsRouter(metrics: FilaMetrics) {
  const app = new OpenAPIHono();
  app.openapi(metricsRoute, async (c) => {
    c.header("Content-Type", metrics.registry.contentType);
    return c.body(await metrics.registry.metrics(), 200) as never;
  });
  return app;
}

/** Counts and times each request by its route pattern (not its raw path: ids would explode the labels). */
export function httpMetrics(metrics: FilaMetrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const labels = {
      method: c.req.method,
      route: c.req.routePath || "unmatched",
      status: String(c.res.status),
    };
    metrics.httpRequests.inc(labels);
    metrics.httpSeconds.observe(labels, (performance.now() - started) / 1000);
  };
}
