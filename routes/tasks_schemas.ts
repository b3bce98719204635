/**
 * The tasks API's request and response schemas: they validate requests and feed
 * the OpenAPI document.
 */
import { z } from "@hono/zod-openapi";
import { MAX_DELAY_MS } from "../tasks/engine/broker.ts";
import { PRIORITIES, TASK_STATUSES, type TaskStatus } from "../tasks/engine/model.ts";
import { anyCaseWord, wholeNumber } from "./params.ts";

/** Accepted in any case: `HIGH` = `high`. */
export const prioritySchema = anyCaseWord(PRIORITIES, "priority").openapi({
  example: "medium",
  description: "high, medium (default) or low; any case",
});

/**
 * Status words of other queues (Celery, BullMQ, RQ, the seed tutorials) that a
 * list filter accepts, in any case, and the Fila statuses each stands for.
 * Answers always use Fila's own names.
 */
export const STATUS_ALIASES: Record<string, readonly TaskStatus[]> = {
  pending: ["scheduled", "queued"],
  "waiting-children": ["blocked"],
  new: ["scheduled", "queued"],
  waiting: ["scheduled", "queued"],
  delayed: ["scheduled"],
  started: ["running"],
  in_progress: ["running"],
  active: ["running"],
  retry: ["retrying"],
  success: ["succeeded"],
  completed: ["succeeded"],
  done: ["succeeded"],
  failure: ["failed"],
  error: ["failed"],
  revoked: ["cancelled"],
  canceled: ["cancelled"],
};

/** A status filter: a Fila status or an alias, any case; parsed to the statuses it means. */
export const statusFilterSchema = anyCaseWord(
  [...TASK_STATUSES, ...Object.keys(STATUS_ALIASES)],
  "status",
).transform((word) => STATUS_ALIASES[word] ?? [word as TaskStatus]).openapi({
  example: "queued",
  description: `A status (${TASK_STATUSES.join(", ")}) or another queue's word for one, any ` +
    `case: ${
      Object.entries(STATUS_ALIASES).map(([alias, to]) => `${alias} \u2192 ${to.join("+")}`).join(
        ", ",
      )
    }`,
});

export const taskSubmitSchema = z.object({
  type: z.string().min(1).max(100).optional().openapi({
    description:
      "Task type; `action` is an alias. Without one, a task with a title is a `work` item.",
    example: "uppercase",
  }),
  action: z.string().min(1).max(100).optional().openapi({ description: "Alias of `type`." }),
  payload: z.unknown().optional().openapi({
    description:
      "Input, checked by the type's own schema; `data` is an alias. Omitted, it is `{}`.",
    example: { text: "hello" },
  }),
  data: z.unknown().optional().openapi({ description: "Alias of `payload`." }),
  priority: prioritySchema.optional(),
  delay_ms: z.number().int().min(0).max(MAX_DELAY_MS).optional().openapi({
    description: "Run no sooner than this many ms from now (at most 30 days).",
  }),
  run_at: z.iso.datetime({ offset: true }).optional().openapi({
    description: "Run no sooner than this ISO 8601 time (at most 30 days ahead).",
  }),
  max_attempts: z.number().int().min(1).max(100).optional().openapi({ example: 3 }),
  timeout_ms: z.number().int().min(100).max(86_400_000).optional().openapi({ example: 300000 }),
  title: z.string().max(200).optional(),
  description: z.string().max(5_000).optional(),
  idempotency_key: z.string().min(1).max(200).optional().openapi({
    description:
      "Submitting the same key again returns the first task (header `Idempotency-Key` works too).",
  }),
  depends_on: z.array(
    z.union([
      z.string().min(1).max(100),
      z.number().int().min(0).max(999).openapi({
        description: "In a batch: the index of an earlier item",
      }),
    ]),
  ).max(100).optional().openapi({
    description: "Tasks to wait for (ids; in a batch also indexes of earlier items): the task " +
      "is `blocked` until they all succeed, and cancelled if one fails for good or is cancelled. " +
      "Their results reach its run as `ctx.dependencies`.",
    example: [],
  }),
  result_ttl_s: z.number().int().min(0).max(31_536_000).optional().openapi({
    description:
      "Delete the task this many seconds after it ends (RQ's result_ttl); without it, ended " +
      "tasks are kept TASK_RETENTION_DAYS.",
    example: 3600,
  }),
}).strict().openapi("TaskSubmit");
export type TaskSubmitBody = z.output<typeof taskSubmitSchema>;

export const batchSubmitSchema = z.object({
  tasks: z.array(taskSubmitSchema).min(1).max(1_000),
}).strict().openapi("TaskBatchSubmit");

export const taskSchema = z.object({
  id: z.string().openapi({ example: "01936b2e-7c1a-7000-8000-000000000000" }),
  type: z.string(),
  title: z.string().nullable(),
  description: z.string().nullable(),
  status: z.enum(TASK_STATUSES),
  priority: z.enum(PRIORITIES),
  progress: z.number().int(),
  progress_message: z.string().nullable(),
  payload: z.unknown(),
  result: z.unknown(),
  error: z.string().nullable(),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  timeout_ms: z.number().int(),
  cancel_requested: z.boolean(),
  idempotency_key: z.string().nullable(),
  worker_id: z.string().nullable(),
  result_ttl_s: z.number().nullable(),
  run_at: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  expires_at: z.string().nullable().openapi({
    description: "When an ended task with result_ttl_s will be deleted",
  }),
  dependency_count: z.number().int().openapi({ description: "How many tasks it waits for" }),
}).openapi("Task");

const linkSchema = z.object({ id: z.string(), status: z.enum(TASK_STATUSES) });

/** GET /tasks/{id}: the task, with the tasks it waits for and those waiting for it. */
export const taskDetailSchema = taskSchema.extend({
  depends_on: z.array(linkSchema),
  dependents: z.array(linkSchema),
}).openapi("TaskDetail");
export const taskBatchSchema = z.object({ tasks: z.array(taskSchema) }).openapi("TaskBatch");

export const taskListSchema = z.object({
  tasks: z.array(taskSchema),
  count: z.number().int(),
  total: z.number().int(),
}).openapi("TaskList");

export const taskStatusSchema = z.object({
  id: z.string(),
  status: z.enum(TASK_STATUSES),
  progress: z.number().int(),
}).openapi("TaskStatus");

export const eventSchema = z.object({
  id: z.number().int(),
  task_id: z.string(),
  at: z.string(),
  status: z.enum(TASK_STATUSES),
  progress: z.number().int().nullable(),
  message: z.string().nullable(),
}).openapi("TaskEvent");

export const listQuerySchema = z.object({
  status: statusFilterSchema.optional(),
  type: z.string().max(100).optional(),
  priority: prioritySchema.optional(),
  limit: wholeNumber("limit", 1, 100).default(20),
  offset: wholeNumber("offset", 0, 1_000_000_000).optional(),
  skip: wholeNumber("skip", 0, 1_000_000_000).optional().openapi({
    description: "Alias of `offset`.",
  }),
});

export const idParamSchema = z.object({
  id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" } }),
});

/**
 * One frame of `GET /tasks/{id}/events`, as OpenAPI 3.2's `itemSchema` describes
 * Server-Sent Events: `event: task` frames carry a TaskEvent (their id is its
 * number), the last frame, `event: end`, the ended Task. `data` is JSON text;
 * `contentSchema` says what it parses to.
 */
export const taskStreamFrameSchema = {
  oneOf: [
    frame("task", "TaskEvent", { id: { type: "string", pattern: "^[0-9]+$" } }),
    frame("end", "Task", {}),
  ],
};

/** One kind of frame: its `event` name, the component its `data` parses to, other fields. */
function frame(
  event: string,
  component: string,
  more: Record<string, { type: "string"; pattern: string }>,
) {
  return {
    type: "object" as const,
    required: ["event", ...Object.keys(more), "data"],
    properties: {
      event: { const: event },
      ...more,
      data: {
        type: "string" as const,
        contentMediaType: "application/json",
        contentSchema: { $ref: `#/components/schemas/${component}` },
      },
    },
  };
}
