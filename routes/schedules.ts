/**
 * /schedules: recurring tasks by cron (Celery beat, BullMQ job schedulers).
 * Stored in the database, fired once per minute across all instances; the
 * quote refresh is a built-in one.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { PRIORITIES, priorityName } from "../tasks/engine/model.ts";
import type { Scheduler } from "../tasks/scheduler.ts";
import type { Schedule } from "../tasks/stores.ts";
import { newRouter } from "./env.ts";
import { jsonResponse as json } from "./errors.ts";
import { failures, JSON_BODY_FAILURES, STORE_FAILURES } from "./openapi.ts";
import { prioritySchema, taskSchema } from "./tasks_schemas.ts";
import { iso, toTaskView } from "./views.ts";

const nameParam = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, {
    message: "a schedule name is 1\u201364 lower-case letters, digits, '_', '.' or '-'",
  }).openapi({ param: { name: "name", in: "path" }, example: "nightly-report" }),
});

const scheduleInputSchema = z.object({
  cron: z.string().min(1).max(200).openapi({
    example: "0 3 * * *",
    description: "Five fields: minute hour day-of-month month day-of-week",
  }),
  type: z.string().min(1).max(100).openapi({ example: "send_report" }),
  payload: z.unknown().optional().openapi({
    example: { email: "ana@example.com", report_type: "sales" },
  }),
  priority: prioritySchema.optional(),
  max_attempts: z.number().int().min(1).max(100).optional(),
  timezone: z.string().min(1).max(64).optional().openapi({
    example: "America/Sao_Paulo",
    description: "IANA time zone the cron is read in (default UTC)",
  }),
  paused: z.boolean().optional(),
}).strict().openapi("ScheduleInput");

export const scheduleSchema = z.object({
  name: z.string(),
  cron: z.string(),
  timezone: z.string(),
  type: z.string(),
  payload: z.unknown(),
  priority: z.enum(PRIORITIES).nullable(),
  max_attempts: z.number().int().nullable(),
  paused: z.boolean(),
  builtin: z.boolean(),
  next_run_at: z.string().nullable(),
  last_run_at: z.string().nullable(),
  last_task_id: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
}).openapi("Schedule");

const tags = ["schedules"];
const notFound = failures({ 400: "Invalid name", 404: "No such schedule" });
const conflict = failures({ 409: "A built-in schedule cannot be replaced or deleted" });

const putRoute = createRoute({
  method: "put",
  path: "/schedules/{name}",
  operationId: "putSchedule",
  tags,
  summary: "Create or replace a schedule",
  request: {
    params: nameParam,
    body: { content: { "application/json": { schema: scheduleInputSchema } }, required: true },
  },
  responses: {
    201: json(scheduleSchema, "Created"),
    200: json(scheduleSchema, "Replaced"),
    ...failures({
      400: "Invalid name, cron, time zone, type or payload (named in details.issues)",
    }),
    ...conflict,
    ...JSON_BODY_FAILURES,
    ...STORE_FAILURES,
  },
});
const listRoute = createRoute({
  method: "get",
  path: "/schedules",
  operationId: "listSchedules",
  tags,
  summary: "List schedules",
  responses: {
    200: json(
      z.object({ schedules: z.array(scheduleSchema) }).openapi("ScheduleList"),
      "Every schedule",
    ),
    ...STORE_FAILURES,
  },
});
const getRoute = createRoute({
  method: "get",
  path: "/schedules/{name}",
  operationId: "getSchedule",
  tags,
  summary: "Read a schedule",
  request: { params: nameParam },
  responses: { 200: json(scheduleSchema, "The schedule"), ...notFound, ...STORE_FAILURES },
});
const deleteRoute = createRoute({
  method: "delete",
  path: "/schedules/{name}",
  operationId: "deleteSchedule",
  tags,
  summary: "Delete a schedule",
  request: { params: nameParam },
  responses: {
    200: json(scheduleSchema, "Deleted"),
    ...notFound,
    ...conflict,
    ...STORE_FAILURES,
  },
});
const pauseRoute = createRoute({
  method: "post",
  path: "/schedules/{name}/pause",
  operationId: "pauseSchedule",
  tags,
  summary: "Pause a schedule (no run until resumed)",
  request: { params: nameParam },
  responses: { 200: json(scheduleSchema, "Paused"), ...notFound, ...STORE_FAILURES },
});
const resumeRoute = createRoute({
  method: "post",
  path: "/schedules/{name}/resume",
  operationId: "resumeSchedule",
  tags,
  summary: "Resume a paused schedule",
  request: { params: nameParam },
  responses: { 200: json(scheduleSchema, "Resumed"), ...notFound, ...STORE_FAILURES },
});
const triggerRoute = createRoute({
  method: "post",
  path: "/schedules/{name}/trigger",
  operationId: "triggerSchedule",
  tags,
  summary: "Run a schedule's task now",
  request: { params: nameParam },
  responses: { 202: json(taskSchema, "The task submitted"), ...notFound, ...STORE_FAILURES },
});

export function schedulesRouter(scheduler: Scheduler) {
  const app = newRouter();
  const view = (s: Schedule) => ({
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    type: s.type,
    payload: s.payload,
    priority: s.priority === null ? null : priorityName(s.priority),
    max_attempts: s.maxAttempts,
    paused: s.paused,
    builtin: s.builtin,
    next_run_at: iso(scheduler.nextRun(s)?.getTime() ?? null),
    last_run_at: iso(s.lastRunAt),
    last_task_id: s.lastTaskId,
    created_at: iso(s.createdAt)!,
    updated_at: iso(s.updatedAt)!,
  });

  app.openapi(putRoute, async (c) => {
    const body = c.req.valid("json");
    const { schedule, created } = await scheduler.put(c.req.valid("param").name, {
      cron: body.cron,
      type: body.type,
      payload: body.payload,
      priority: body.priority,
      maxAttempts: body.max_attempts,
      timezone: body.timezone,
      paused: body.paused,
    });
    return c.json(view(schedule), created ? 201 : 200);
  });
  app.openapi(
    listRoute,
    async (c) => c.json({ schedules: (await scheduler.list()).map(view) }, 200),
  );
  app.openapi(
    getRoute,
    async (c) => c.json(view(await scheduler.get(c.req.valid("param").name)), 200),
  );
  app.openapi(
    deleteRoute,
    async (c) => c.json(view(await scheduler.delete(c.req.valid("param").name)), 200),
  );
  app.openapi(
    pauseRoute,
    async (c) => c.json(view(await scheduler.setPaused(c.req.valid("param").name, true)), 200),
  );
  app.openapi(
    resumeRoute,
    async (c) => c.json(view(await scheduler.setPaused(c.req.valid("param").name, false)), 200),
  );
  app.openapi(triggerRoute, async (c) => {
    const { task } = await scheduler.trigger(c.req.valid("param").name);
    return c.json(toTaskView(task), 202);
  });
  return app;
}
