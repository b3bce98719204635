/**
 * /tasks: submit (one or a batch), list, read, follow live, cancel, retry.
 * Route declarations first, handlers below; handlers call the engine only.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { Engine, SubmitRequest } from "../tasks/engine/engine.ts";
import { FilaError } from "../tasks/engine/errors.ts";
import { isFinal, priorityRank, toEventView, toTaskView } from "../tasks/engine/model.ts";
import { errorSchema, jsonResponse as json, validationHook } from "./errors.ts";
import {
  batchSubmitSchema,
  idParamSchema,
  listQuerySchema,
  taskListSchema,
  taskSchema,
  taskStatusSchema,
  type TaskSubmitBody,
  taskSubmitSchema,
} from "./tasks_schemas.ts";

const errors = {
  400: json(errorSchema, "Invalid request"),
  404: json(errorSchema, "No such task"),
};

const submitRoute = createRoute({
  method: "post",
  path: "/tasks",
  tags: ["tasks"],
  summary: "Submit a task",
  request: {
    body: { content: { "application/json": { schema: taskSubmitSchema } }, required: true },
    headers: z.object({ "idempotency-key": z.string().min(1).max(200).optional() }),
  },
  responses: {
    202: json(taskSchema, "Accepted; `Location` names the task"),
    200: json(taskSchema, "The task that this idempotency key created earlier"),
    400: errors[400],
    413: json(errorSchema, "Body over 1 MiB"),
  },
});

const batchRoute = createRoute({
  method: "post",
  path: "/tasks/batch",
  tags: ["tasks"],
  summary: "Submit up to 1,000 tasks, all or nothing",
  request: {
    body: { content: { "application/json": { schema: batchSubmitSchema } }, required: true },
  },
  responses: {
    202: json(z.object({ tasks: z.array(taskSchema) }), "Accepted, in the order given"),
    400: errors[400],
    413: json(errorSchema, "Body over 1 MiB"),
  },
});

const listRoute = createRoute({
  method: "get",
  path: "/tasks",
  tags: ["tasks"],
  summary: "List tasks, newest first",
  request: { query: listQuerySchema },
  responses: { 200: json(taskListSchema, "A page of tasks"), 400: errors[400] },
});

const getRoute = createRoute({
  method: "get",
  path: "/tasks/{id}",
  tags: ["tasks"],
  summary: "Read a task",
  request: { params: idParamSchema },
  responses: { 200: json(taskSchema, "The task"), 404: errors[404] },
});

const statusRoute = createRoute({
  method: "get",
  path: "/tasks/{id}/status",
  tags: ["tasks"],
  summary: "A task's status and progress",
  request: { params: idParamSchema },
  responses: { 200: json(taskStatusSchema, "Status and progress"), 404: errors[404] },
});

const eventsRoute = createRoute({
  method: "get",
  path: "/tasks/{id}/events",
  tags: ["tasks"],
  summary: "Follow a task live (Server-Sent Events until it ends)",
  request: { params: idParamSchema },
  responses: {
    200: {
      content: { "text/event-stream": { schema: z.string() } },
      description: "`event: task` frames with its history, then one per change",
    },
    404: errors[404],
  },
});

const cancelRoute = createRoute({
  method: "delete",
  path: "/tasks/{id}",
  tags: ["tasks"],
  summary: "Cancel a task",
  request: { params: idParamSchema },
  responses: {
    200: json(taskSchema, "Cancelled (it had not started)"),
    202: json(taskSchema, "Running: cancel requested, its signal aborts now"),
    404: errors[404],
    409: json(errorSchema, "Already finished"),
  },
});

const retryRoute = createRoute({
  method: "post",
  path: "/tasks/{id}/retry",
  tags: ["tasks"],
  summary: "Replay a failed or cancelled task",
  request: { params: idParamSchema },
  responses: {
    202: json(taskSchema, "Queued again"),
    404: errors[404],
    409: json(errorSchema, "Not failed or cancelled"),
  },
});

/** Turns the API's body (with its aliases) into an engine request. */
export function toSubmitRequest(
  body: TaskSubmitBody,
  extra: Partial<SubmitRequest> = {},
): SubmitRequest {
  const type = body.type ?? body.action ?? (body.title !== undefined ? "work" : undefined);
  if (!type) {
    throw new FilaError(
      "validation_failed",
      "type is required (or action, or a title for a work item)",
    );
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
    ...extra,
  };
}

const SSE_POLL_MS = 500;

export function tasksRouter(engine: Engine) {
  const app = new OpenAPIHono({ defaultHook: validationHook });

  app.openapi(submitRoute, async (c) => {
    const body = c.req.valid("json");
    const key = body.idempotency_key ?? c.req.valid("header")["idempotency-key"];
    const { task, created } = await engine.submit(
      toSubmitRequest(body, { idempotencyKey: key, requestId: c.get("requestId" as never) }),
    );
    c.header("Location", `${basePath(c.req.path, "/tasks")}/tasks/${task.id}`);
    if (!created) c.header("Idempotent-Replayed", "true");
    return c.json(toTaskView(task), created ? 202 : 200);
  });

  app.openapi(batchRoute, async (c) => {
    const { tasks } = c.req.valid("json");
    const requestId = c.get("requestId" as never);
    const requests = tasks.map((body, index) => {
      try {
        return toSubmitRequest(body, { requestId });
      } catch (error) {
        if (error instanceof FilaError) {
          throw new FilaError(error.code, `tasks[${index}]: ${error.message}`, { index });
        }
        throw error;
      }
    });
    const submitted = await engine.submitMany(requests);
    return c.json({ tasks: submitted.map((s) => toTaskView(s.task)) }, 202);
  });

  app.openapi(listRoute, async (c) => {
    const q = c.req.valid("query");
    const { rows, total } = await engine.list({
      status: q.status,
      type: q.type,
      priority: q.priority === undefined ? undefined : priorityRank(q.priority),
      limit: q.limit,
      offset: q.offset ?? q.skip ?? 0,
    });
    return c.json({ tasks: rows.map(toTaskView), count: rows.length, total }, 200);
  });

  app.openapi(getRoute, async (c) => {
    return c.json(toTaskView(await engine.get(c.req.valid("param").id)), 200);
  });

  app.openapi(statusRoute, async (c) => {
    const task = await engine.get(c.req.valid("param").id);
    return c.json({ id: task.id, status: toTaskView(task).status, progress: task.progress }, 200);
  });

  app.openapi(eventsRoute, async (c) => {
    const { id } = c.req.valid("param");
    await engine.get(id); // 404 before the stream starts
    const lastEventId = Number(c.req.header("Last-Event-ID") ?? 0) || 0;
    return streamSSE(c, async (stream) => {
      let after = lastEventId;
      let wake: () => void = () => {};
      const unsubscribe = engine.changes.subscribe(id, () => wake());
      stream.onAbort(() => wake());
      const onStop = () => wake();
      engine.stopSignal.addEventListener("abort", onStop);
      try {
        while (!stream.aborted && !engine.stopSignal.aborted) {
          for (const event of await engine.events(id, after)) {
            after = event.id;
            await stream.writeSSE({
              event: "task",
              id: String(event.id),
              data: JSON.stringify(toEventView(event)),
            });
          }
          const task = await engine.get(id);
          if (isFinal(task.status)) {
            // the final event may have been written after our read; send what is left
            for (const event of await engine.events(id, after)) {
              after = event.id;
              await stream.writeSSE({
                event: "task",
                id: String(event.id),
                data: JSON.stringify(toEventView(event)),
              });
            }
            await stream.writeSSE({ event: "end", data: JSON.stringify(toTaskView(task)) });
            break;
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, SSE_POLL_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      } finally {
        unsubscribe();
        engine.stopSignal.removeEventListener("abort", onStop);
      }
    }) as never;
  });

  app.openapi(cancelRoute, async (c) => {
    const task = await engine.cancel(c.req.valid("param").id);
    return c.json(toTaskView(task), task.status === "cancelled" ? 200 : 202);
  });

  app.openapi(retryRoute, async (c) => {
    return c.json(toTaskView(await engine.retry(c.req.valid("param").id)), 202);
  });

  return app;
}

/** "/api/v1/tasks/batch" → "/api/v1": Location follows the mount the client used. */
function basePath(path: string, resource: string): string {
  const at = path.indexOf(resource);
  return at > 0 ? path.slice(0, at) : "";
}
