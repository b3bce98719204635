/**
 * /tasks: submit (one or a batch), list, read, follow live, cancel, retry.
 * Route declarations first, handlers below; handlers call the engine only.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { Engine, SubmitRequest } from "../tasks/engine/engine.ts";
import { InvalidTaskError } from "../tasks/engine/errors.ts";
import { priorityRank, type TaskStatus } from "../tasks/engine/model.ts";
import { type AppEnv, newRouter } from "./env.ts";
import { jsonResponse as json } from "./errors.ts";
import { failures, JSON_BODY_FAILURES, LOCATION, STORE_FAILURES } from "./openapi.ts";
import { followTask } from "./task_stream.ts";
import {
  batchSubmitSchema,
  eventSchema,
  idParamSchema,
  listQuerySchema,
  taskBatchSchema,
  taskDetailSchema,
  taskListSchema,
  taskSchema,
  taskStatusSchema,
  taskStreamFrameSchema,
  type TaskSubmitBody,
  taskSubmitSchema,
} from "./tasks_schemas.ts";
import { toTaskView } from "./views.ts";
import type { Context } from "hono";

/** Every route on one task: a malformed id is a 400, an unknown one a 404. */
const ONE_TASK_FAILURES = failures({ 400: "Invalid id", 404: "No such task" });

const submitRoute = createRoute({
  method: "post",
  path: "/tasks",
  operationId: "submitTask",
  tags: ["tasks"],
  summary: "Submit a task",
  description: "Stores the task and queues it (or schedules it, with `delay_ms` or `run_at`). " +
    "The body names a registered type (see `GET /task-types`) and its payload, checked by the " +
    "type's own schema.",
  request: {
    body: { content: { "application/json": { schema: taskSubmitSchema } }, required: true },
    headers: z.object({
      "idempotency-key": z.string().min(1).max(200).optional().openapi({
        description: "Submitting the same key again answers the first task (as `idempotency_key`)",
      }),
    }),
  },
  responses: {
    202: json(taskSchema, "Accepted; `Location` names the task", z.object({ Location: LOCATION })),
    200: json(
      taskSchema,
      "The task that this idempotency key created earlier",
      z.object({
        Location: LOCATION,
        "Idempotent-Replayed": z.literal("true").openapi({
          description: "This answer replays the first submission",
        }),
      }),
    ),
    ...failures({ 400: true }),
    ...JSON_BODY_FAILURES,
    ...STORE_FAILURES,
  },
});

const batchRoute = createRoute({
  method: "post",
  path: "/tasks/batch",
  operationId: "submitTaskBatch",
  tags: ["tasks"],
  summary: "Submit up to 1,000 tasks, all or nothing",
  description: "One bad item refuses the whole batch with a 400 whose issues name its index " +
    "(`tasks.3.payload.text`); nothing is stored then.",
  request: {
    body: { content: { "application/json": { schema: batchSubmitSchema } }, required: true },
  },
  responses: {
    202: json(taskBatchSchema, "Accepted, in the order given"),
    ...failures({ 400: true }),
    ...JSON_BODY_FAILURES,
    ...STORE_FAILURES,
  },
});

const listRoute = createRoute({
  method: "get",
  path: "/tasks",
  operationId: "listTasks",
  tags: ["tasks"],
  summary: "List tasks, newest first",
  request: { query: listQuerySchema },
  responses: {
    200: json(taskListSchema, "A page of tasks"),
    ...failures({ 400: true }),
    ...STORE_FAILURES,
  },
});

const getRoute = createRoute({
  method: "get",
  path: "/tasks/{id}",
  operationId: "getTask",
  tags: ["tasks"],
  summary: "Read a task",
  request: { params: idParamSchema },
  responses: {
    200: json(taskDetailSchema, "The task, with its dependencies and dependents"),
    ...ONE_TASK_FAILURES,
    ...STORE_FAILURES,
  },
});

const statusRoute = createRoute({
  method: "get",
  path: "/tasks/{id}/status",
  operationId: "getTaskStatus",
  tags: ["tasks"],
  summary: "A task's status and progress",
  request: { params: idParamSchema },
  responses: {
    200: json(taskStatusSchema, "Status and progress"),
    ...ONE_TASK_FAILURES,
    ...STORE_FAILURES,
  },
});

const eventsRoute = createRoute({
  method: "get",
  path: "/tasks/{id}/events",
  operationId: "followTask",
  tags: ["tasks"],
  summary: "Follow a task live (Server-Sent Events until it ends)",
  description: "The task's history as `event: task` frames (data: a `TaskEvent`, id: its " +
    "number), then one frame per change, and `event: end` (data: the `Task`) once it has " +
    "ended. Send `Last-Event-ID` to resume after a frame. `x-itemSchema` describes the frames " +
    "as OpenAPI 3.2's `itemSchema` does.",
  request: {
    params: idParamSchema,
    headers: z.object({
      "last-event-id": z.string().optional().openapi({
        description: "Resume after this frame id (a number; anything else starts from the first)",
      }),
    }),
  },
  responses: {
    200: {
      content: {
        "text/event-stream": {
          schema: z.string().openapi({ description: "Server-Sent Events frames" }),
          itemSchema: taskStreamFrameSchema,
        },
      },
      description: "`event: task` frames with its history, then one per change, then `event: end`",
    },
    ...ONE_TASK_FAILURES,
    ...STORE_FAILURES,
  },
});

const cancelRoute = createRoute({
  method: "delete",
  path: "/tasks/{id}",
  operationId: "cancelTask",
  tags: ["tasks"],
  summary: "Cancel a task",
  request: { params: idParamSchema },
  responses: {
    200: json(taskSchema, "Cancelled (it had not started)"),
    202: json(taskSchema, "Running: cancel requested, its signal aborts now"),
    ...ONE_TASK_FAILURES,
    ...failures({ 409: "Already finished" }),
    ...STORE_FAILURES,
  },
});

const retryRoute = createRoute({
  method: "post",
  path: "/tasks/{id}/retry",
  operationId: "retryTask",
  tags: ["tasks"],
  summary: "Replay a failed or cancelled task",
  request: { params: idParamSchema },
  responses: {
    202: json(taskSchema, "Queued again"),
    ...ONE_TASK_FAILURES,
    ...failures({ 409: "Not failed or cancelled" }),
    ...STORE_FAILURES,
  },
});

/** Turns the API's body (with its aliases) into an engine request. */
export function toSubmitRequest(
  body: TaskSubmitBody,
  extra: Partial<SubmitRequest> = {},
): SubmitRequest {
  const type = body.type ?? body.action ?? (body.title !== undefined ? "work" : undefined);
  if (!type) {
    throw new InvalidTaskError("type is required (or action, or a title for a work item)", [
      { path: "type", message: "required (or action, or a title for a work item)" },
    ]);
  }
  return {
    type,
    payload: body.payload ?? body.data,
    priority: body.priority,
    delayMs: body.delay_ms,
    runAt: body.run_at === undefined ? undefined : Date.parse(body.run_at),
    maxAttempts: body.max_attempts,
    timeoutMs: body.timeout_ms,
    title: body.title,
    description: body.description,
    idempotencyKey: body.idempotency_key,
    resultTtlMs: body.result_ttl_s === undefined ? undefined : body.result_ttl_s * 1000,
    dependsOn: body.depends_on,
    ...extra,
  };
}

const toLinkView = (link: { id: string; status: string }) => ({
  id: link.id,
  status: link.status as TaskStatus,
});

/** "/api/v1/tasks/batch" -> "/api/v1": links follow the mount the client used. */
export function mountOf(c: Context<AppEnv>): string {
  return c.req.path.startsWith("/api/v1/") ? "/api/v1" : "";
}

export function tasksRouter(engine: Engine) {
  const app = newRouter();
  // the events stream's frames refer to it (x-itemSchema); no route body names it
  app.openAPIRegistry.register("TaskEvent", eventSchema);

  app.openapi(submitRoute, async (c) => {
    const body = c.req.valid("json");
    const key = body.idempotency_key ?? c.req.valid("header")["idempotency-key"];
    const { task, created } = await engine.submit(
      toSubmitRequest(body, { idempotencyKey: key, requestId: c.get("requestId") }),
    );
    c.header("Location", `${mountOf(c)}/tasks/${task.id}`);
    if (!created) c.header("Idempotent-Replayed", "true");
    return c.json(toTaskView(task), created ? 202 : 200);
  });

  app.openapi(batchRoute, async (c) => {
    const { tasks } = c.req.valid("json");
    const requestId = c.get("requestId");
    const requests = tasks.map((body, index) => {
      try {
        return toSubmitRequest(body, { requestId });
      } catch (error) {
        throw error instanceof InvalidTaskError ? error.forItem(index) : error;
      }
    });
    const submitted = await engine.submitMany(requests);
    return c.json({ tasks: submitted.map((s) => toTaskView(s.task)) }, 202);
  });

  app.openapi(listRoute, async (c) => {
    const q = c.req.valid("query");
    const { tasks, total } = await engine.list({
      statuses: q.status,
      type: q.type,
      priority: q.priority === undefined ? undefined : priorityRank(q.priority),
      limit: q.limit,
      offset: q.offset ?? q.skip ?? 0,
    });
    return c.json({ tasks: tasks.map(toTaskView), count: tasks.length, total }, 200);
  });

  app.openapi(getRoute, async (c) => {
    const { id } = c.req.valid("param");
    const [task, links] = await Promise.all([engine.get(id), engine.links(id)]);
    return c.json({
      ...toTaskView(task),
      depends_on: links.dependsOn.map(toLinkView),
      dependents: links.dependents.map(toLinkView),
    }, 200);
  });

  app.openapi(statusRoute, async (c) => {
    const task = toTaskView(await engine.get(c.req.valid("param").id));
    return c.json({ id: task.id, status: task.status, progress: task.progress }, 200);
  });

  app.openapi(eventsRoute, async (c) => {
    const { id } = c.req.valid("param");
    await engine.get(id); // 404 before the stream starts
    // HEAD gets the stream's headers and no stream: nothing would ever read it
    if (c.req.method === "HEAD") {
      return c.body(null, 200, { "content-type": "text/event-stream" }) as never;
    }
    const lastEventId = Number(c.req.header("Last-Event-ID") ?? 0) || 0;
    return streamSSE(
      c,
      (stream) => followTask(stream, engine, id, lastEventId, c.req.raw.signal),
    ) as never;
  });

  app.openapi(cancelRoute, async (c) => {
    const task = toTaskView(await engine.cancel(c.req.valid("param").id));
    return c.json(task, task.status === "cancelled" ? 200 : 202);
  });

  app.openapi(retryRoute, async (c) => {
    return c.json(toTaskView(await engine.retry(c.req.valid("param").id)), 202);
  });

  return app;
}
