/**
 * Prometheus metrics with prom-client, one registry per instance (several test
 * instances share a process). Counters move with the engine's hooks; gauges are
 * read from the store at scrape time.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { StatsRepository } from "../../db/stats_repository.ts";
import type { QuotesService } from "../clients/quotes_service.ts";
import { priorityName } from "./model.ts";
import type { EngineHooks } from "./engine.ts";
import type { WorkerPoolHooks } from "./worker_pool.ts";

export class FilaMetrics {
  readonly registry = new Registry();
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
  readonly httpRequests = new Counter({
    name: "fila_http_requests_total",
    help: "HTTP requests, by method, route pattern and status",
    labelNames: ["method", "route", "status"],
    registers: [this.registry],
  });
  readonly httpSeconds = new Histogram({
    name: "fila_http_request_duration_seconds",
    help: "HTTP request latency, by method, route pattern and status",
    labelNames: ["method", "route", "status"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5],
    registers: [this.registry],
  });

  constructor(stats: StatsRepository, quotes: QuotesService) {
    new Gauge({
      name: "fila_queue_depth",
      help: "Tasks by status and priority (read at scrape)",
      labelNames: ["status", "priority"],
      registers: [this.registry],
      async collect() {
        this.reset();
        const { byStatusPriority } = await stats.counts();
        for (const r of byStatusPriority) {
          this.set({ status: r.status, priority: priorityName(r.priority) }, r.n);
        }
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

  /** Hooks for the engine: submissions and attempt ends. */
  hooks(): EngineHooks & WorkerPoolHooks {
    return {
      onSubmitted: (tasks) => {
        for (const t of tasks) this.submitted.inc({ type: t.type });
      },
      onAttemptEnd: (task, outcome, durationMs) => {
        this.finished.inc({ type: task.type, outcome });
        this.runSeconds.observe({ type: task.type }, durationMs / 1000);
      },
    };
  }
}
