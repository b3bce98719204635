/**
 * Prometheus metrics with prom-client, one registry per instance (several test
 * instances share a process): the engine's counters move with its hooks, HTTP
 * requests are timed by a middleware, gauges are read at scrape time. Every
 * label takes values from a bounded set: a client cannot grow the registry.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EngineHooks } from "../tasks/engine/engine.ts";
import type { QueueCounts } from "../tasks/engine/store.ts";
import { priorityName } from "../tasks/engine/model.ts";
import type { QuotesService } from "../tasks/clients/quotes_service.ts";
import { newRouter } from "./env.ts";

/** HTTP methods counted by name; any other method is counted as `other`. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export class FilaMetrics {
  readonly registry = new Registry();
  private readonly typeNames: Set<string>;
  private readonly submitted = new Counter({
    name: "fila_tasks_submitted_total",
    help: "Tasks submitted, by type",
    labelNames: ["type"],
    registers: [this.registry],
  });
  private readonly finished = new Counter({
    name: "fila_task_attempts_finished_total",
    help:
      "Task attempts that ended here, by type and outcome (succeeded, retrying, failed, cancelled, lost)",
    labelNames: ["type", "outcome"],
    registers: [this.registry],
  });
  private readonly runSeconds = new Histogram({
    name: "fila_task_run_seconds",
    help: "Run time of task attempts, by type",
    labelNames: ["type"],
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 60, 300],
    registers: [this.registry],
  });
  private readonly httpRequests = new Counter({
    name: "fila_http_requests_total",
    help: "HTTP requests, by method, route pattern and status",
    labelNames: ["method", "route", "status"],
    registers: [this.registry],
  });
  private readonly httpSeconds = new Histogram({
    name: "fila_http_request_duration_seconds",
    help: "HTTP request latency, by method, route pattern and status",
    labelNames: ["method", "route", "status"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5],
    registers: [this.registry],
  });

  constructor(sources: {
    /** The engine's counts (shared with /queue/stats for a moment). */
    counts: (since: number) => Promise<QueueCounts>;
    /** Live streams attached to this instance. */
    followers: () => number;
    quotes: QuotesService;
    /** The registered task types; any other type is counted as `other`. */
    typeNames: Set<string>;
  }) {
    const { counts, followers, quotes } = sources;
    this.typeNames = sources.typeNames;
    // the process's memory under the names prom-client's default metrics use, so the
    // usual dashboards and alerts (e.g. resident memory growing) apply unchanged
    const memory: [string, string, keyof Deno.MemoryUsage][] = [
      ["process_resident_memory_bytes", "Resident memory size in bytes", "rss"],
      ["nodejs_heap_size_total_bytes", "V8 heap size in bytes", "heapTotal"],
      ["nodejs_heap_size_used_bytes", "V8 heap used in bytes", "heapUsed"],
      [
        "nodejs_external_memory_bytes",
        "Memory of JavaScript objects held outside the V8 heap (ArrayBuffers, ...) in bytes",
        "external",
      ],
    ];
    for (const [name, help, field] of memory) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(Deno.memoryUsage()[field]);
        },
      });
    }
    new Gauge({
      name: "fila_live_streams",
      help: "Live task streams (GET /tasks/:id/events) open on this instance",
      registers: [this.registry],
      collect() {
        this.set(followers());
      },
    });
    new Gauge({
      name: "fila_queue_depth",
      help: "Waiting and running tasks, by status and priority (read at scrape)",
      labelNames: ["status", "priority"],
      registers: [this.registry],
      async collect() {
        this.reset();
        const { activeByPriority } = await counts(Date.now() - 60_000);
        for (const r of activeByPriority) {
          this.set({ status: r.status, priority: priorityName(r.priority) }, r.n);
        }
      },
    });
    new Gauge({
      name: "fila_tasks",
      help: "Tasks in the store, by status (read at scrape)",
      labelNames: ["status"],
      registers: [this.registry],
      async collect() {
        this.reset();
        const { byStatus } = await counts(Date.now() - 60_000);
        for (const r of byStatus) this.set({ status: r.status }, r.n);
      },
    });
    new Gauge({
      name: "fila_quote_age_seconds",
      help: "Age of the newest stored quote, by pair (read at scrape)",
      labelNames: ["pair"],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const pair of quotes.pairs) {
          const q = await quotes.latest(pair);
          if (q) this.set({ pair }, (Date.now() - q.timestamp) / 1000);
        }
      },
    });
  }

  private typeLabel(type: string): string {
    return this.typeNames.has(type) ? type : "other";
  }

  /** Hooks for the engine: submissions and attempt ends. */
  engineHooks(): EngineHooks {
    return {
      onSubmitted: (tasks) => {
        // one increment per type of a batch, not per task (each one hashes its labels)
        const byType = new Map<string, number>();
        for (const t of tasks) {
          const type = this.typeLabel(t.type);
          byType.set(type, (byType.get(type) ?? 0) + 1);
        }
        for (const [type, n] of byType) this.submitted.inc({ type }, n);
      },
      onAttemptEnd: (task, outcome, durationMs) => {
        const type = this.typeLabel(task.type);
        this.finished.inc({ type, outcome });
        this.runSeconds.observe({ type }, durationMs / 1000);
      },
    };
  }

  /**
   * Counts and times each request by method, route pattern (never the raw path:
   * ids would explode the labels) and status.
   */
  httpMiddleware(): MiddlewareHandler {
    return async (c, next) => {
      const started = performance.now();
      await next();
      const labels = {
        method: KNOWN_METHODS.has(c.req.method) ? c.req.method : "other",
        route: c.req.routePath || "unmatched",
        status: String(c.res.status),
      };
      this.httpRequests.inc(labels);
      this.httpSeconds.observe(labels, (performance.now() - started) / 1000);
    };
  }
}

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  operationId: "getMetrics",
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
  const app = newRouter();
  app.openapi(metricsRoute, async (c) => {
    c.header("Content-Type", metrics.registry.contentType);
    return c.body(await metrics.registry.metrics(), 200) as never;
  });
  return app;
}
