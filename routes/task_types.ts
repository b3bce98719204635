/**
 * /task-types: the registered task types with an example payload each (the
 * dashboard's form), their cluster-wide limits and current use; PATCH sets a
 * type's limits (concurrency, starts per minute, paused) for every instance.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Engine } from "../tasks/engine/engine.ts";
import { newRouter } from "./env.ts";
import { jsonResponse as json, requireJsonBody } from "./errors.ts";
import { failures, JSON_BODY_FAILURES, STORE_FAILURES } from "./openapi.ts";

const limitsSchema = z.object({
  concurrency: z.number().int().nullable().openapi({
    description: "Most tasks of the type running at once, across all instances (null: no limit)",
  }),
  rate_per_minute: z.number().int().nullable().openapi({
    description: "Most starts of the type per minute, across all instances (null: no limit)",
  }),
  paused: z.boolean().openapi({
    description: "A paused type starts nothing; running tasks finish",
  }),
}).openapi("TaskTypeLimits");

const taskTypeSchema = z.object({
  type: z.string(),
  description: z.string(),
  example: z.unknown(),
  limits: limitsSchema,
  usage: z.object({
    running: z.number().int(),
    started_last_minute: z.number().int().nullable().openapi({
      description: "Counted for types with a rate limit",
    }),
  }),
}).openapi("TaskType");

const limitsPatchSchema = z.object({
  concurrency: z.number().int().min(1).max(100_000).nullable().optional(),
  rate_per_minute: z.number().int().min(1).max(10_000_000).nullable().optional(),
  paused: z.boolean().optional(),
}).strict().openapi("TaskTypeLimitsPatch");

const listRoute = createRoute({
  method: "get",
  path: "/task-types",
  operationId: "listTaskTypes",
  tags: ["tasks"],
  summary: "Registered task types: description, example payload, limits and current use",
  responses: {
    200: json(z.object({ types: z.array(taskTypeSchema) }).openapi("TaskTypes"), "The registry"),
    ...STORE_FAILURES,
  },
});

const patchRoute = createRoute({
  method: "patch",
  path: "/task-types/{type}",
  operationId: "setTaskTypeLimits",
  tags: ["tasks"],
  summary:
    "Set a type's cluster-wide limits (null removes one); every instance applies them within a second",
  request: {
    params: z.object({
      type: z.string().min(1).max(100).openapi({ param: { name: "type", in: "path" } }),
    }),
    body: { content: { "application/json": { schema: limitsPatchSchema } }, required: true },
  },
  responses: {
    200: json(taskTypeSchema, "The type with its new limits"),
    ...failures({ 400: "Unknown type or bad limits" }),
    ...JSON_BODY_FAILURES,
    ...STORE_FAILURES,
  },
});

export function taskTypesRouter(engine: Engine) {
  const app = newRouter();
  const types = async () => {
    const [limits, usage] = await Promise.all([engine.typeLimits(), engine.typeUsage()]);
    return engine.taskTypes().map((d) => {
      const limit = limits.find((l) => l.type === d.type);
      const use = usage.find((u) => u.type === d.type);
      return {
        type: d.type,
        description: d.description,
        example: d.example,
        limits: {
          concurrency: limit?.concurrency ?? null,
          rate_per_minute: limit?.ratePerMinute ?? null,
          paused: limit?.paused ?? false,
        },
        usage: {
          running: use?.running ?? 0,
          started_last_minute: limit?.ratePerMinute ? use?.startedLastMinute ?? 0 : null,
        },
      };
    });
  };
  app.openapi(listRoute, async (c) => c.json({ types: await types() }, 200));
  app.openapi(patchRoute, async (c) => {
    // every field is optional, so a missing body would read as `{}`: refuse it as the document does
    requireJsonBody(c);
    const { type } = c.req.valid("param");
    const body = c.req.valid("json");
    await engine.setTypeLimit(type, {
      concurrency: body.concurrency,
      ratePerMinute: body.rate_per_minute,
      paused: body.paused,
    });
    return c.json((await types()).find((t) => t.type === type)!, 200);
  });
  return app;
}
