/**
 * Errors as JSON, always: `{ error: { code, message, details? } }`, where
 * `details.issues`, when present, is the one list of field problems
 * `[{ path, message }]` every 400 uses (`path` dotted: `payload.numbers.0`,
 * `tasks.3.type`, `num_rows`). One place maps errors to HTTP statuses; nothing
 * here ever sends a stack trace.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getLogger } from "@logtape/logtape";
import { z } from "@hono/zod-openapi";
import {
  InvalidTaskError,
  StoreUnavailableError,
  TaskConflictError,
  TaskNotFoundError,
} from "../tasks/engine/errors.ts";
import { zodIssues } from "../tasks/engine/task_registry.ts";
import { ScheduleError } from "../tasks/scheduler.ts";

/** An error the API answers as it is: a status, a code and a message. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A 400 about one field. */
export function invalidField(path: string, message: string, extra: Record<string, unknown> = {}) {
  return new ApiError(400, "validation_failed", `${path}: ${message}`, {
    issues: [{ path, message }],
    ...extra,
  });
}

export const errorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ example: "validation_failed" }),
    message: z.string().openapi({ example: "payload.numbers.0: expected number, received string" }),
    details: z.object({
      issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }).catchall(z.unknown()).optional().openapi({
      description: "`issues` lists the field problems of a 400; other keys depend on the error",
    }),
  }),
}).openapi("Error");

/** An OpenAPI response entry: a JSON body of `schema`, and the headers it always carries. */
export function jsonResponse<T extends z.ZodType, H extends z.ZodObject = never>(
  schema: T,
  description: string,
  headers?: H,
) {
  return { content: { "application/json": { schema } }, description, ...(headers && { headers }) };
}

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

const log = getLogger(["fila", "http"]);

/** The app's one `onError`: known errors to their statuses, anything else to a bare 500. */
/**
 * Refuses a request without a JSON body on a route whose body is required. The
 * validator reads a missing or non-JSON body as `{}`, which routes whose
 * fields are all optional would otherwise take as an empty change.
 */
export function requireJsonBody(c: Context): void {
  if (!(c.req.header("content-type") ?? "").includes("application/json")) {
    throw new HTTPException(415, {
      message: "send the body as JSON with Content-Type: application/json",
    });
  }
}

export function handleError(error: Error, c: Context) {
  if (error instanceof ApiError) {
    return c.json(errorBody(error.code, error.message, error.details), error.status);
  }
  if (error instanceof InvalidTaskError) {
    return c.json(
      errorBody("validation_failed", error.message, { issues: error.issues, ...error.extra }),
      400,
    );
  }
  if (error instanceof TaskNotFoundError) {
    return c.json(errorBody("not_found", error.message), 404);
  }
  if (error instanceof ScheduleError) {
    return c.json(errorBody(error.kind, error.message), error.kind === "not_found" ? 404 : 409);
  }
  if (error instanceof TaskConflictError) {
    return c.json(errorBody("conflict", error.message, { status: error.status }), 409);
  }
  if (error instanceof StoreUnavailableError) {
    log.warn("store unavailable on {method} {path}: {error}", {
      method: c.req.method,
      path: c.req.path,
      error: error.message,
    });
    c.header("Retry-After", error.reason === "full" ? "60" : "1");
    return error.reason === "full"
      ? c.json(errorBody("insufficient_storage", error.message), 507)
      : c.json(errorBody("unavailable", error.message), 503);
  }
  if (error instanceof HTTPException) {
    // a middleware that built its own answer (bearerAuth: JSON body + WWW-Authenticate) keeps it
    if (error.res) return error.getResponse();
    const status = error.status as ContentfulStatusCode;
    if (status === 415) {
      return c.json(
        errorBody(
          "unsupported_media_type",
          "send the body as JSON with Content-Type: application/json",
        ),
        415,
      );
    }
    const code = status === 413
      ? "payload_too_large"
      : status === 401
      ? "unauthorized"
      : "bad_request";
    const message = error.message || "bad request";
    // every 400 lists its problems; this one (malformed JSON) is the body's as a whole
    const details = status === 400 ? { issues: [{ path: "", message }] } : undefined;
    return c.json(errorBody(code, message, details), status);
  }
  log.error("unhandled error on {method} {path}: {error}", {
    method: c.req.method,
    path: c.req.path,
    error: String(error),
    stack: error.stack,
  });
  return c.json(errorBody("internal", "internal error"), 500);
}

/** zod-openapi's hook: a request that fails its schema is a 400 that lists the issues. */
export function validationHook(
  result: { success: boolean; error?: z.ZodError; target?: string },
  c: Context,
) {
  if (!result.success && result.error) {
    const issues = zodIssues(result.error);
    const first = issues[0];
    const where = result.target === "json" ? "body" : result.target ?? "request";
    const message = first
      ? `invalid ${where}: ${first.path ? `${first.path}: ` : ""}${first.message}`
      : `invalid ${where}`;
    return c.json(errorBody("validation_failed", message, { issues }), 400);
  }
}
