/**
 * The HTTP application: middleware, every router (at `/` and under `/api/v1`),
 * errors mapped in one place. Routes talk to the engine and the services only.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import type { Engine } from "../tasks/engine/engine.ts";
import type { Mailer } from "../tasks/clients/mailer.ts";
import type { QuotesService } from "../tasks/clients/quotes_service.ts";
import type { Scheduler } from "../tasks/scheduler.ts";
import { schedulesRouter } from "./schedules.ts";
import { currencyRouter } from "./currency.ts";
import { buildOpenApiDocument, docsRouter } from "./docs.ts";
import type { AppEnv } from "./env.ts";
import { errorBody, handleError, validationHook } from "./errors.ts";
import { type HealthCheck, healthRouter } from "./health.ts";
import { type FilaMetrics, metricsRouter } from "./metrics.ts";
import { outboxRouter } from "./outbox.ts";
import { queueRouter } from "./queue.ts";
import { requestLog } from "./request_log.ts";
import { corsFor, requireToken, securityHeaders } from "./security.ts";
import { shortcutsRouter } from "./shortcuts.ts";
import { taskTypesRouter } from "./task_types.ts";
import { tasksRouter } from "./tasks.ts";
import { tasksBulkRouter } from "./tasks_bulk.ts";

export interface AppDeps {
  engine: Engine;
  scheduler: Scheduler;
  quotes: QuotesService;
  mailer: Mailer;
  healthChecks: HealthCheck[];
  metrics: FilaMetrics;
  apiToken?: string;
  /** The dashboard's router (built async at start-up: it reads its shell once). */
  dashboard?: OpenAPIHono<AppEnv>;
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
  const app = new OpenAPIHono<AppEnv>({ strict: false, defaultHook: validationHook });
  app.use(requestId({ limitLength: 200 }));
  app.use(requestLog());
  app.use(deps.metrics.httpMiddleware());
  app.use(securityHeaders());
  const corsMiddleware = corsFor(deps.corsOrigins);
  if (corsMiddleware) app.use(corsMiddleware);
  if (deps.apiToken) app.use(requireToken(deps.apiToken));
  app.use(bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => c.json(errorBody("payload_too_large", "request body is over 1 MiB"), 413),
  }));

  const api = new OpenAPIHono<AppEnv>({ strict: false, defaultHook: validationHook });
  api.route("/", healthRouter(deps));
  api.route("/", metricsRouter(deps.metrics));
  // a worker-only instance answers probes and scrapes, nothing else
  if (!deps.probesOnly) {
    api.route("/", tasksBulkRouter(deps.engine));
    api.route("/", tasksRouter(deps.engine));
    api.route("/", currencyRouter(deps.quotes));
    api.route("/", outboxRouter(deps.mailer));
    api.route("/", shortcutsRouter(deps.engine));
    api.route("/", queueRouter(deps.engine));
    api.route("/", taskTypesRouter(deps.engine));
    api.route("/", schedulesRouter(deps.scheduler));
  }

  app.route("/", api);
  app.route("/api/v1", api);

  if (!deps.probesOnly) {
    if (deps.dashboard) app.route("/", deps.dashboard);
    app.route(
      "/",
      docsRouter(
        () => buildOpenApiDocument(app, deps.engine.taskTypes(), deps.version),
        deps.version,
      ),
    );
  }

  app.notFound((c) =>
    c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404)
  );
  app.onError(handleError);
  return app;
}

export type FilaApp = ReturnType<typeof createApp>;
