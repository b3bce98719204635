/**
 * The seed's shortcut endpoints: each creates one task from query parameters and
 * answers 202 `{ task_id, status, status_url }`, as the Celery tutorial's API did.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Engine, SubmitRequest } from "../tasks/engine/engine.ts";
import { MAX_GENERATED_ROWS } from "../tasks/types/process_csv.ts";
import { REPORT_TYPES } from "../tasks/types/send_report.ts";
import { errorSchema, validationHook } from "./errors.ts";

const acceptedSchema = z.object({
  task_id: z.string(),
  status: z.string().openapi({ example: "queued" }),
  status_url: z.string().openapi({ example: "/tasks/01936b2e-7c1a-7000-8000-000000000000/status" }),
}).openapi("ShortcutAccepted");

const responses = {
  202: { content: { "application/json": { schema: acceptedSchema } }, description: "Task created" },
  400: { content: { "application/json": { schema: errorSchema } }, description: "Bad parameters" },
};

const processCsvRoute = createRoute({
  method: "post",
  path: "/process-csv",
  tags: ["shortcuts"],
  summary: "Process a generated sales file (creates a process_csv task)",
  request: {
    query: z.object({
      filename: z.string().regex(/^[\w.-]{1,100}$/).openapi({ example: "vendas.csv" }),
      num_rows: z.coerce.number().int().min(1).max(MAX_GENERATED_ROWS).openapi({ example: 1000 }),
    }),
  },
  responses,
});

const aggregateRoute = createRoute({
  method: "post",
  path: "/aggregate",
  tags: ["shortcuts"],
  summary: "Aggregate a region's sales in a month (creates an aggregate task)",
  request: {
    query: z.object({
      region: z.string().min(1).max(50).openapi({ example: "south" }),
      month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, { message: "month must be YYYY-MM" })
        .openapi({ example: "2026-03" }),
    }),
  },
  responses,
});

const sendReportRoute = createRoute({
  method: "post",
  path: "/send-report",
  tags: ["shortcuts"],
  summary: "Build a report and mail it (creates a send_report task)",
  request: {
    query: z.object({
      email: z.email().openapi({ example: "ana@example.com" }),
      report_type: z.enum(REPORT_TYPES).default("sales"),
    }),
  },
  responses,
});

async function accept(c: Context, engine: Engine, request: SubmitRequest) {
  const { task } = await engine.submit({ ...request, requestId: c.get("requestId" as never) });
  const base = c.req.path.startsWith("/api/v1/") ? "/api/v1" : "";
  c.header("Location", `${base}/tasks/${task.id}`);
  return c.json({
    task_id: task.id,
    status: task.status,
    status_url: `${base}/tasks/${task.id}/status`,
  }, 202);
}

export function shortcutsRouter(engine: Engine) {
  const app = new OpenAPIHono({ defaultHook: validationHook });
  app.openapi(processCsvRoute, (c) => {
    const { filename, num_rows } = c.req.valid("query");
    return accept(c, engine, { type: "process_csv", payload: { filename, num_rows } }) as never;
  });
  app.openapi(aggregateRoute, (c) => {
    const { region, month } = c.req.valid("query");
    return accept(c, engine, { type: "aggregate", payload: { region, month } }) as never;
  });
  app.openapi(sendReportRoute, (c) => {
    const { email, report_type } = c.req.valid("query");
    return accept(c, engine, { type: "send_report", payload: { email, report_type } }) as never;
  });
  return app;
}
