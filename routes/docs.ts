/**
 * GET /openapi.json (OpenAPI 3.1, generated from the routes' zod schemas, with
 * POST /tasks documented per task type) and GET /docs (Swagger UI, served from
 * this app: no CDN needed).
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { Hono } from "hono";
import { z } from "zod";
import type { TaskDefinition } from "../tasks/engine/task_definition.ts";
import { PRIORITIES } from "../tasks/engine/model.ts";
import type { AppEnv } from "./env.ts";
import { staticFiles } from "./static_files.ts";

const swagger = (file: string) =>
  new URL(`../node_modules/swagger-ui-dist/${file}`, import.meta.url);
const ASSETS = {
  "swagger-ui.css": { url: swagger("swagger-ui.css"), type: "text/css; charset=utf-8" },
  "swagger-ui-bundle.js": {
    url: swagger("swagger-ui-bundle.js"),
    type: "text/javascript; charset=utf-8",
  },
};

/** The OpenAPI document of `app`: root paths only (the same API is under /api/v1, said in `servers`). */
export function buildOpenApiDocument(
  app: OpenAPIHono<AppEnv>,
  types: TaskDefinition[],
  version: string,
) {
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Fila",
      version,
      description:
        "Background tasks over HTTP: submit, follow, cancel and retry tasks; read currency quotes. " +
        "Every path is also served under /api/v1.",
    },
    servers: [{ url: "/", description: "this instance" }, {
      url: "/api/v1",
      description: "versioned mount",
    }],
  });
  doc.paths = Object.fromEntries(
    Object.entries(doc.paths ?? {}).filter(([path]) => !path.startsWith("/api/v1")),
  );
  // POST /tasks: one variant per task type, discriminated on `type`, from each type's own schema
  const variants = types.map((def) => ({
    title: def.type,
    description: def.description,
    type: "object",
    required: ["type"],
    properties: {
      type: { const: def.type },
      payload: z.toJSONSchema(def.input, { io: "input", unrepresentable: "any" }),
      priority: { type: "string", enum: [...PRIORITIES] },
      delay_ms: { type: "integer", minimum: 0 },
      run_at: { type: "string", format: "date-time" },
      max_attempts: { type: "integer", minimum: 1, maximum: 100 },
      timeout_ms: { type: "integer", minimum: 100 },
      title: { type: "string" },
      description: { type: "string" },
      idempotency_key: { type: "string" },
    },
    example: { type: def.type, payload: def.example },
  }));
  doc.components ??= {};
  doc.components.schemas ??= {};
  doc.components.schemas.TaskSubmitByType = {
    oneOf: variants,
    discriminator: { propertyName: "type" },
  } as never;
  const post = doc.paths["/tasks"]?.post;
  const media =
    (post?.requestBody as { content?: Record<string, { schema?: unknown; examples?: unknown }> })
      ?.content?.["application/json"];
  if (media) {
    media.schema = { anyOf: [{ $ref: "#/components/schemas/TaskSubmitByType" }, media.schema] };
    media.examples = Object.fromEntries(
      types.map((
        d,
      ) => [d.type, { summary: d.description, value: { type: d.type, payload: d.example } }]),
    );
  }
  return doc;
}

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Fila API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
  </script>
</body>
</html>`;

export function docsRouter(getDocument: () => unknown, version: string) {
  const app = new Hono();
  let cached: unknown = null;
  app.get("/openapi.json", (c) => c.json(cached ??= getDocument()));
  app.get("/docs", (c) => c.html(page));
  app.get("/docs/assets/:file", staticFiles(ASSETS, version));
  return app;
}
