/**
 * Bulk operations over a filter: retry every failed task, cancel every waiting
 * one (BullMQ's `retryJobs`/`clean`, Celery's `purge`), in chunks so neither
 * holds the store for long. Both answer how many tasks changed.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Engine } from "../tasks/engine/engine.ts";
import { CANCELLABLE_STATUSES, priorityRank } from "../tasks/engine/model.ts";
import { newRouter } from "./env.ts";
import { invalidField, jsonResponse as json, requireJsonBody } from "./errors.ts";
import { failures, JSON_BODY_FAILURES, STORE_FAILURES } from "./openapi.ts";
import { prioritySchema, statusFilterSchema } from "./tasks_schemas.ts";

const filterSchema = z.object({
  type: z.string().min(1).max(100).optional(),
  priority: prioritySchema.optional(),
  created_after: z.iso.datetime({ offset: true }).optional(),
  created_before: z.iso.datetime({ offset: true }).optional(),
});

const retrySchema = filterSchema.strict().openapi("BulkRetry");
const cancelSchema = filterSchema.extend({
  status: statusFilterSchema.optional().openapi({
    description: "Which waiting tasks (default: every waiting or blocked one)",
  }),
}).strict().openapi("BulkCancel");
const changedSchema = z.object({ changed: z.number().int() }).openapi("BulkChanged");

const retryRoute = createRoute({
  method: "post",
  path: "/tasks/bulk-retry",
  operationId: "retryTasks",
  tags: ["tasks"],
  summary: "Replay every failed task matching the filter",
  request: { body: { content: { "application/json": { schema: retrySchema } }, required: true } },
  responses: {
    200: json(changedSchema, "How many were replayed"),
    ...failures({ 400: "Bad filter" }),
    ...JSON_BODY_FAILURES,
    ...STORE_FAILURES,
  },
});

const cancelRoute = createRoute({
  method: "post",
  path: "/tasks/bulk-cancel",
  operationId: "cancelTasks",
  tags: ["tasks"],
  summary: "Cancel every waiting (or blocked) task matching the filter",
  request: { body: { content: { "application/json": { schema: cancelSchema } }, required: true } },
  responses: {
    200: json(changedSchema, "How many were cancelled"),
    ...failures({ 400: "Bad filter" }),
    ...JSON_BODY_FAILURES,
    ...STORE_FAILURES,
  },
});

function toFilter(body: z.output<typeof filterSchema>) {
  return {
    type: body.type,
    priority: body.priority === undefined ? undefined : priorityRank(body.priority),
    createdAfter: body.created_after === undefined ? undefined : Date.parse(body.created_after),
    createdBefore: body.created_before === undefined ? undefined : Date.parse(body.created_before),
  };
}

export function tasksBulkRouter(engine: Engine) {
  const app = newRouter();
  // an empty filter means "every task": it must be asked for as `{}`, not by accident
  app.openapi(retryRoute, async (c) => {
    requireJsonBody(c);
    return c.json({ changed: await engine.retryMany(toFilter(c.req.valid("json"))) }, 200);
  });
  app.openapi(cancelRoute, async (c) => {
    requireJsonBody(c);
    const body = c.req.valid("json");
    const statuses = body.status ?? [...CANCELLABLE_STATUSES];
    const waiting = statuses.filter((s) => (CANCELLABLE_STATUSES as readonly string[]).includes(s));
    if (waiting.length === 0) {
      throw invalidField(
        "status",
        `only waiting tasks are cancelled in bulk (${CANCELLABLE_STATUSES.join(", ")})`,
      );
    }
    return c.json(
      { changed: await engine.cancelMany({ ...toFilter(body), statuses: waiting }) },
      200,
    );
  });
  return app;
}
