/**
 * What route declarations share: Fila's error answers by status, each with the
 * one error body and the headers it carries, so a declaration names only the
 * failures its handler can produce (`...failures({ 404: "No such task" })`).
 * A 401 is not declared here: the document adds it, with the security
 * requirement, to every operation `isPublicPath` does not exempt (docs.ts).
 *
 * Adding a route: declare it with `createRoute` (an `operationId`, a tag listed
 * in docs.ts's TAGS, its answers and `...failures(...)`), serve it with
 * `app.openapi(route, handler)` on a `newRouter()`, then run `deno task client`.
 * tests/contract_test.ts fails while a served route is undocumented, and every
 * API test checks the route's exchanges against what it declares.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { errorSchema } from "./errors.ts";

/** Each status Fila may answer with its error body: what it means by default, and its code. */
const ERRORS = {
  400: [
    "Invalid request: `error.details.issues` lists each problem as `{ path, message }`",
    "validation_failed",
    "payload.numbers.0: expected number, received string",
  ],
  404: ["Not found", "not_found", "no task 01936b2e-7c1a-7000-8000-000000000000"],
  409: ["Conflicts with the task's current status", "conflict", "the task has already ended"],
  413: ["Body over 1 MiB", "payload_too_large", "request body is over 1 MiB"],
  415: [
    "Body not sent as `Content-Type: application/json`",
    "unsupported_media_type",
    "send the body as JSON with Content-Type: application/json",
  ],
  502: [
    "The upstream failed; `error.message` says how",
    "upstream_failed",
    "upstream answered 500",
  ],
  503: [
    "The store is busy or unreachable: retry after `Retry-After` seconds",
    "unavailable",
    "the database is busy",
  ],
  507: [
    "The store cannot grow (disk full): retry after `Retry-After` seconds",
    "insufficient_storage",
    "the database cannot grow",
  ],
} as const;

export type ErrorStatus = keyof typeof ERRORS;

/** Statuses whose answer says when to try again. */
const RETRY_AFTER = z.object({
  "Retry-After": z.string().regex(/^[0-9]+$/).openapi({
    description: "Seconds to wait before trying again",
  }),
});

/**
 * A 400's body: the error body whose `details.issues` lists every problem, at
 * least one (`path` dotted, empty for the body as a whole).
 */
export const validationErrorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ example: "validation_failed" }),
    message: z.string().openapi({ example: "payload.numbers.0: expected number, received string" }),
    details: z.object({
      issues: z.array(z.object({ path: z.string(), message: z.string() })).min(1),
    }).catchall(z.unknown()),
  }),
}).openapi("ValidationError");

/** An error answer as a route declares it. */
export interface ErrorResponse {
  description: string;
  content: {
    "application/json": {
      schema: typeof errorSchema | typeof validationErrorSchema;
      example: { error: { code: string; message: string } };
    };
  };
  headers?: typeof RETRY_AFTER;
}

/** One error answer: the error body, and `Retry-After` where the status carries it. */
export function errorResponse(status: ErrorStatus, description?: string): ErrorResponse {
  return {
    description: description ?? ERRORS[status][0],
    content: {
      "application/json": {
        schema: status === 400 ? validationErrorSchema : errorSchema,
        example: {
          error: {
            code: ERRORS[status][1],
            message: ERRORS[status][2],
            ...(status === 400 && {
              details: {
                issues: [{
                  path: "payload.numbers.0",
                  message: "expected number, received string",
                }],
              },
            }),
          },
        },
      },
    },
    ...(status === 503 || status === 507 ? { headers: RETRY_AFTER } : {}),
  };
}

/**
 * Error answers for a route's `responses`: each key a status, each value its
 * description for this route, or `true` for the default one.
 */
export function failures<const S extends ErrorStatus>(
  described: { [K in S]: string | true },
): { [K in S]: ErrorResponse } {
  const entries = Object.entries(described) as [string, string | true][];
  return Object.fromEntries(
    entries.map((
      [status, text],
    ) => [status, errorResponse(Number(status) as ErrorStatus, text === true ? undefined : text)]),
  ) as { [K in S]: ErrorResponse };
}

/** What any route that reads or writes the store may answer when the store fails. */
export const STORE_FAILURES = failures({ 503: true, 507: true });

/** What any route taking a JSON body may answer before its handler runs. */
export const JSON_BODY_FAILURES = failures({ 413: true, 415: true });

/** `Location` of an answer that created or names a task. */
export const LOCATION = z.string().regex(/^(\/api\/v1)?\/tasks\/[^/]+$/).openapi({
  description:
    "The task's URL, under the mount the request used (`/tasks/\u2026` or `/api/v1/tasks/\u2026`)",
});

/** A file of a fixed set, by name, as `staticFiles` serves it. */
export function assetRoute(path: string, operationId: string, tag: string, names: string[]) {
  return createRoute({
    method: "get",
    path,
    operationId,
    tags: [tag],
    summary: `One of the page's files: ${names.join(", ")}`,
    request: { params: z.object({ file: z.string().openapi({ example: names[0] }) }) },
    responses: {
      200: {
        content: {
          "text/css": { schema: z.string() },
          "text/javascript": { schema: z.string() },
        },
        description: "The file, cached for a day (its ETag is the version)",
        headers: z.object({
          ETag: z.string().openapi({ description: "The service's version, quoted" }),
          "Cache-Control": z.string().openapi({ example: "public, max-age=86400" }),
        }),
      },
      304: { description: "Not modified (`If-None-Match` matched the version)" },
      ...failures({ 404: "No file of that name" }),
    },
  });
}
