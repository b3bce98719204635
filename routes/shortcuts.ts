/**
 * The seed's shortcut endpoints: each creates one task from query parameters and
 * answers 202 `{ task_id, status, status_url }`, as the Celery tutorial's API did.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Engine, SubmitRequest } from "../tasks/engine/engine.ts";
import { MAX_GENERATED_ROWS } from "../tasks/types/process_csv.ts";
import { REPORT_TYPES } from "../tasks/types/send_report.ts";
import { filenameSchema, monthSchema } from "../tasks/types/patterns.ts";
import { type AppEnv, newRouter } from "./env.ts";
import { jsonResponse } from "./errors.ts";
import { failures, LOCATION, STORE_FAILURES } from "./openapi.ts";
import { anyCaseWord, thousands, wholeNumber } from "./params.ts";
import { mountOf } from "./tasks.ts";

/** Rows of a generated file when `num_rows` is not given (the Celery seed sends only a filename). */
export const DEFAULT_NUM_ROWS = 1_000;

const acceptedSchema = z.object({
  task_id: z.string(),
  status: z.string().openapi({ example: "queued" }),
  status_url: z.string().openapi({ example: "/tasks/01936b2e-7c1a-7000-8000-000000000000/status" }),
}).openapi("ShortcutAccepted");

const responses = {
  202: jsonResponse(acceptedSchema, "Task created", z.object({ Location: LOCATION })),
  ...failures({ 400: "Bad parameters" }),
  ...STORE_FAILURES,
};

const processCsvRoute = createRoute({
  method: "post",
  path: "/process-csv",
  operationId: "processCsv",
  tags: ["shortcuts"],
  summary: "Process a generated sales file (creates a process_csv task)",
  request: {
    query: z.object({
      filename: filenameSchema.openapi({ example: "vendas.csv" }),
      num_rows: wholeNumber("num_rows", 1, MAX_GENERATED_ROWS).default(DEFAULT_NUM_ROWS).openapi({
        example: 1000,
        description: `Rows to generate (default ${thousands(DEFAULT_NUM_ROWS)})`,
      }),
    }),
  },
  responses,
});

const aggregateRoute = createRoute({
  method: "post",
  path: "/aggregate",
  operationId: "aggregateSales",
  tags: ["shortcuts"],
  summary: "Aggregate a region's sales in a month (creates an aggregate task)",
  request: {
    query: z.object({
      region: z.string().min(1).max(50).openapi({ example: "sudeste" }),
      month: monthSchema.openapi({ example: "2025-01" }),
    }),
  },
  responses,
});

const sendReportRoute = createRoute({
  method: "post",
  path: "/send-report",
  operationId: "sendReport",
  tags: ["shortcuts"],
  summary: "Build a report and mail it (creates a send_report task)",
  request: {
    query: z.object({
      email: z.email({ error: "email must be an e-mail address" }).openapi({
        example: "ana@example.com",
      }),
      report_type: anyCaseWord(REPORT_TYPES, "report_type").default("sales"),
    }),
  },
  responses,
});

async function accept(c: Context<AppEnv>, engine: Engine, request: SubmitRequest) {
  const { task } = await engine.submit({ ...request, requestId: c.get("requestId") });
  const base = mountOf(c);
  c.header("Location", `${base}/tasks/${task.id}`);
  return c.json({
    task_id: task.id,
    status: task.status,
    status_url: `${base}/tasks/${task.id}/status`,
  }, 202);
}

export function shortcutsRouter(engine: Engine) {
  const app = newRouter();
  app.openapi(processCsvRoute, (c) => {
    const { filename, num_rows } = c.req.valid("query");
    return accept(c, engine, { type: "process_csv", payload: { filename, num_rows } });
  });
  app.openapi(aggregateRoute, (c) => {
    const { region, month } = c.req.valid("query");
    return accept(c, engine, { type: "aggregate", payload: { region, month } });
  });
  app.openapi(sendReportRoute, (c) => {
    const { email, report_type } = c.req.valid("query");
    return accept(c, engine, { type: "send_report", payload: { email, report_type } });
  });
  return app;
}
