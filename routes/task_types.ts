/** GET /task-types: the registered task types with an example payload each (the dashboard's form). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { TaskRegistry } from "../tasks/engine/task_registry.ts";

const taskTypesRoute = createRoute({
  method: "get",
  path: "/task-types",
  tags: ["tasks"],
  summary: "Registered task types, each with a description and an example payload",
  responses: {
    200: {
      content: {
        "application/json": {
          schema: z.object({
            types: z.array(
              z.object({ type: z.string(), description: z.string(), example: z.unknown() }),
            ),
          }).openapi("TaskTypes"),
        },
      },
      description: "The registry",
    },
  },
});

export function taskTypesRouter(registry: TaskRegistry) {
  const app = new OpenAPIHono();
  const types = registry.all().map((d) => ({
    type: d.type,
    description: d.description,
    example: d.example,
  }));
  app.openapi(taskTypesRoute, (c) => c.json({ types }, 200));
  return app;
}
