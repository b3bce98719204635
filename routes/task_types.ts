/** GET /task-types: the registered task types with an example payload each (the dashboard's form). */
import { createRoute, z } from "@hono/zod-openapi";
import type { TaskDefinition } from "../tasks/engine/task_definition.ts";
import { newRouter } from "./env.ts";

const taskTypesRoute = createRoute({
  method: "get",
  path: "/task-types",
  operationId: "listTaskTypes",
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

export function taskTypesRouter(definitions: TaskDefinition[]) {
  const app = newRouter();
  const types = definitions.map((d) => ({
    type: d.type,
    description: d.description,
    example: d.example,
  }));
  app.openapi(taskTypesRoute, (c) => c.json({ types }, 200));
  return app;
}
