/**
 * The HTTP application: middleware, every router (at `/` and under `/api/v1`),
 * errors mapped in one place.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import type { Engine } from "../tasks/engine/engine.ts";
import { errorBody, handleError, validationHook } from "./errors.ts";
import { type HealthCheck, healthRouter } from "./health.ts";
import { tasksRouter } from "./tasks.ts";
import { currencyRouter } from "./currency.ts";
import { outboxRouter } from "./outbox.ts";
import { shortcutsRouter } from "./shortcuts.ts";
import type { OutboxRepository } from "../db/outbox_repository.ts";
import { queueRouter } from "./queue.ts";
import type { StatsRepository } from "../db/stats_repository.ts";
import type { InstanceRegistry } from "../tasks/engine/instance_registry.ts";
import { httpMetrics, metricsRouter } from "./metrics.ts";
import type { FilaMetrics } from "../tasks/engine/metrics.ts";
import { buildOpenApiDocument, docsRouter } from "./docs.ts";
import { requestLog } from "./request_log.ts";
import { taskTypesRouter } from "./task_types.ts";
import type { Hono } from "hono";
import { corsFor, requireToken, securityHeaders } from "./security.ts";
import type { QuotesService } from "../tasks/clients/quotes_service.ts";

export interface AppDeps {
  engine: Engine;
  quotes: QuotesService;
  outbox: OutboxRepository;
  healthChecks: HealthCheck[];
  stats: StatsRepository;
  metrics: FilaMetrics;
  instances: InstanceRegistry;
  apiToken?: string;
  /** The dashboard's router (built async at start-up: it reads its files once). */
  dashboard?: Hono;
  /** ROLE=worker: serve /health and /metrics only. */
  probesOnly?: boolean;
  corsOrigins?: string;
  version: string;
  instance: string;
  startedAt: number;
}

export const MAX_BODY_BYTES = 1024 * 1024;

/** Builds the Hono app; `main.ts` serves it, tests too. */
export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono({ strict: false, defaultHook: validationHook });
  app.use(requestId({ limitLength: 200 }));
  app.use(requestLog());
  app.use(httpMetrics(deps.metrics));
  app.use(securityHeaders());
  const corsMiddleware = corsFor(deps.corsOrigins);
  if (corsMiddleware) app.use(corsMiddleware);
  if (deps.apiToken) app.use(requireToken(deps.apiToken));
  app.use(bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => c.json(errorBody("payload_too_large", "request body is over 1 MiB"), 413),
  }));

  const api = new OpenAPIHono({ strict: false, defaultHook: validationHook });
  api.route("/", healthRouter(deps));
  api.route("/", metricsRouter(deps.metrics));
  // a worker-only instance answers probes and scrapes, nothing else
  if (!deps.probesOnly) {
    api.route("/", tasksRouter(deps.engine));
    api.route("/", currencyRouter(deps.quotes));
    api.route("/", outboxRouter(deps.outbox));
    api.route("/", shortcutsRouter(deps.engine));
    api.route("/", queueRouter(deps.stats, deps.instances));
    api.route("/", taskTypesRouter(deps.engine.registry));
  }

  app.route("/", api);
  app.route("/api/v1", api);

  if (!deps.probesOnly) {
    if (deps.dashboard) app.route("/", deps.dashboard);
    app.route("/", docsRouter(() => buildOpenApiDocument(app, deps.engine.registry, deps.version)));
  }

  app.notFound((c) =>
    c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404)
  );
  app.onError(handleError);
  return app;
}

export type FilaApp = ReturnType<typeof createApp>;
