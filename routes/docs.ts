/**
 * GET /openapi.json (OpenAPI 3.1, generated from the routes' declarations) and
 * GET /docs (Swagger UI, served from this app: no CDN needed).
 *
 * The routes declare their requests, answers and failures; what holds for all of
 * them is derived here, once: which operations need the Bearer token (from
 * `isPublicPath`, the rule the middleware applies) with their 401, which paths
 * are also served under /api/v1 (from the app's own routes), and POST /tasks's
 * body per registered task type (from each type's own schema).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { TaskDefinition } from "../tasks/engine/task_definition.ts";
import { type AppEnv, newRouter } from "./env.ts";
import { errorSchema } from "./errors.ts";
import { assetRoute } from "./openapi.ts";
import { isPublicPath } from "./security.ts";
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

/** The mount every API route is also served under. */
export const VERSIONED_MOUNT = "/api/v1";

/** The license the document states (no LICENSE file exists yet: the lead's call). */
const LICENSE = { name: "MIT", identifier: "MIT" };

/** The document's security scheme: `Authorization: Bearer <API_TOKEN>`. */
export const BEARER_SCHEME = "bearerAuth";

const TAGS = [
  { name: "tasks", description: "Submit, follow, cancel and retry background tasks" },
  { name: "schedules", description: "Recurring tasks by cron, fired once per minute cluster-wide" },
  { name: "shortcuts", description: "One-call task submissions from query parameters" },
  { name: "currency", description: "Currency quotes kept fresh by a cron" },
  { name: "mail", description: "Mail kept when no SMTP server is configured" },
  { name: "operations", description: "Probes, metrics and queue statistics" },
  { name: "docs", description: "This description and its browsable page" },
  { name: "dashboard", description: "The dashboard's page and files" },
];

/** Loose JSON-Schema and OpenAPI objects, as the generator hands them back. */
// deno-lint-ignore no-explicit-any
type Json = any;

/**
 * The OpenAPI document of `app`: root paths only (the same API is under /api/v1,
 * said in `servers`), with security, 401s and POST /tasks's per-type bodies derived.
 */
export function buildOpenApiDocument(
  app: OpenAPIHono<AppEnv>,
  types: TaskDefinition[],
  version: string,
) {
  // every error answer refers to it, also where no route declares one (ROLE=worker's app)
  app.openAPIRegistry.register("Error", errorSchema);
  const doc: Json = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Fila",
      version,
      description:
        "Background tasks over HTTP: submit, follow, cancel and retry tasks; read currency quotes. " +
        `Every API path is also served under ${VERSIONED_MOUNT}. Errors are JSON: ` +
        "`{ error: { code, message, details? } }`; a 400's `details.issues` lists each problem. " +
        "When the server sets `API_TOKEN`, every operation marked with the bearer scheme needs " +
        "`Authorization: Bearer <API_TOKEN>`.",
      contact: { name: "Fila maintainers" },
    },
    servers: [
      { url: "/", description: "this instance" },
      { url: VERSIONED_MOUNT, description: "this instance, versioned mount" },
    ],
    tags: TAGS,
  });
  // 3.1's license (with an SPDX identifier); the generator's types know 3.0's only
  doc.info.license = LICENSE;
  doc.paths = Object.fromEntries(
    Object.entries(doc.paths ?? {}).filter(([path]) => !path.startsWith(VERSIONED_MOUNT)),
  );
  doc.components ??= {};
  doc.components.schemas ??= {};
  doc.components.securitySchemes = {
    [BEARER_SCHEME]: {
      type: "http",
      scheme: "bearer",
      description: "`API_TOKEN` of the server; needed only when the server sets one",
    },
  };
  const served = new Set(app.routes.map((r) => `${r.method} ${r.path}`));
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    const honoPath = path.replace(/\{(\w+)\}/g, ":$1");
    const versioned = Object.keys(item).every((method) =>
      served.has(`${method.toUpperCase()} ${VERSIONED_MOUNT}${honoPath}`)
    );
    if (!versioned) item.servers = [{ url: "/", description: "this instance (root mount only)" }];
    const isPublic = isPublicPath(path.replace(/\{\w+\}/g, "x"));
    for (const [method, operation] of Object.entries<Json>(item)) {
      if (typeof operation !== "object" || !operation.responses) continue;
      operation.security = isPublic ? [] : [{ [BEARER_SCHEME]: [] }];
      if (!isPublic) operation.responses["401"] ??= unauthorizedResponse();
      // the body limit runs before routing, so a route that reads no body refuses a big one too
      if (BODY_METHODS.has(method)) operation.responses["413"] ??= payloadTooLargeResponse();
      moveItemSchemas(operation);
    }
  }
  addSubmitVariants(doc, types);
  return doc;
}

const BODY_METHODS = new Set(["post", "put", "patch", "delete"]);

/** The 413 of the body limit (routes/app.ts), which any request with a body may meet. */
function payloadTooLargeResponse() {
  return {
    description: "Body over 1 MiB",
    content: {
      "application/json": {
        schema: { $ref: "#/components/schemas/Error" },
        example: { error: { code: "payload_too_large", message: "request body is over 1 MiB" } },
      },
    },
  };
}

/** The 401 every protected operation may answer, as the middleware sends it. */
function unauthorizedResponse() {
  return {
    description: "No valid `Authorization: Bearer <API_TOKEN>` (the server sets `API_TOKEN`)",
    headers: {
      "WWW-Authenticate": {
        description: 'The scheme and why: `Bearer realm="fila"`, maybe with `error=\u2026`',
        required: true,
        schema: { type: "string", pattern: '^Bearer realm="fila"' },
      },
    },
    content: {
      "application/json": {
        schema: { $ref: "#/components/schemas/Error" },
        example: { error: { code: "unauthorized", message: "the token is not valid" } },
      },
    },
  };
}

/**
 * OpenAPI 3.2's `itemSchema` (the frames of a stream) is not a 3.1 field: the
 * document keeps it as the extension `x-itemSchema` until it moves to 3.2.
 */
function moveItemSchemas(operation: Json) {
  for (const response of Object.values<Json>(operation.responses)) {
    for (const media of Object.values<Json>(response.content ?? {})) {
      if (media.itemSchema) {
        media["x-itemSchema"] = media.itemSchema;
        delete media.itemSchema;
      }
    }
  }
}

/**
 * `TaskSubmit` becomes one of: a body per task type (`TaskSubmit.<type>`, its
 * payload checked by the type's schema) or the alias form (`TaskSubmitAliases`:
 * `action`/`data`, or a title alone for a work item), so POST /tasks and each
 * batch item say which payload goes with which type.
 */
function addSubmitVariants(doc: Json, types: TaskDefinition[]) {
  const schemas = doc.components.schemas;
  const fields = schemas.TaskSubmit;
  if (!fields?.properties) return;
  const { type, action, payload, data, ...common } = fields.properties;
  const variants = types.map((def) => {
    const name = `TaskSubmit.${def.type}`;
    const input = payloadSchema(def, name, schemas);
    schemas[name] = {
      title: def.type,
      description: def.description,
      type: "object",
      required: ["type"],
      properties: {
        type: { const: def.type, description: type?.description },
        payload: { ...input, description: payload?.description },
        data: { ...input, description: data?.description },
        ...common,
      },
      additionalProperties: false,
      examples: [{ type: def.type, payload: def.example }],
    };
    return { $ref: `#/components/schemas/${name}` };
  });
  schemas.TaskSubmitAliases = {
    description: "The alias form: `action` for `type`, `data` for `payload`; with neither, " +
      "a title makes a `work` item.",
    type: "object",
    // `type: false`: absent (typed `never`, so a typed body cannot fall back on this one)
    properties: { type: false, action, payload, data, ...common },
    additionalProperties: false,
    examples: [{ action: "uppercase", data: { text: "hello" } }, { title: "Write the report" }],
  };
  schemas.TaskSubmit = {
    description: "A task to submit: a registered `type` with its payload, or the alias form.",
    oneOf: [...variants, { $ref: "#/components/schemas/TaskSubmitAliases" }],
  };
  const media = doc.paths["/tasks"]?.post?.requestBody?.content?.["application/json"];
  if (media) {
    media.examples = Object.fromEntries(
      types.map((d) => [d.type, {
        summary: d.description.split(/(?<=\.) /)[0],
        value: { type: d.type, payload: d.example },
      }]),
    );
  }
}

/**
 * A task type's input as JSON Schema (what a client may send), its own `$defs`
 * moved into the document's components under `<variant>.<def>`.
 */
function payloadSchema(def: TaskDefinition, variant: string, schemas: Json): Json {
  const { $schema: _, $defs, ...schema } = z.toJSONSchema(def.input, {
    io: "input",
    unrepresentable: "any",
  }) as Json;
  if (!$defs) return schema;
  for (const [name, sub] of Object.entries($defs)) schemas[`${variant}.${name}`] = sub;
  return JSON.parse(
    JSON.stringify(schema).replaceAll('"#/$defs/', `"#/components/schemas/${variant}.`),
  );
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
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
    });
  </script>
</body>
</html>`;

const documentRoute = createRoute({
  method: "get",
  path: "/openapi.json",
  operationId: "getOpenApiDocument",
  tags: ["docs"],
  summary: "This OpenAPI 3.1 document",
  responses: {
    200: {
      content: {
        "application/json": {
          schema: z.record(z.string(), z.unknown()).openapi({ description: "OpenAPI 3.1" }),
        },
      },
      description: "The document",
    },
  },
});

const docsPageRoute = createRoute({
  method: "get",
  path: "/docs",
  operationId: "getDocsPage",
  tags: ["docs"],
  summary: "Swagger UI over this document (Authorize takes the API token)",
  responses: {
    200: { content: { "text/html": { schema: z.string() } }, description: "The page" },
  },
});

const docsAssetRoute = assetRoute(
  "/docs/assets/{file}",
  "getDocsAsset",
  "docs",
  Object.keys(ASSETS),
);

export function docsRouter(getDocument: () => unknown, version: string) {
  const app = newRouter();
  let cached: unknown = null;
  app.openapi(documentRoute, (c) => c.json((cached ??= getDocument()) as never, 200));
  app.openapi(docsPageRoute, (c) => c.html(page) as never);
  app.openapi(docsAssetRoute, staticFiles(ASSETS, version) as never);
  return app;
}
