/**
 * Errors as JSON, always: `{ error: { code, message, details? } }`. One place maps
 * error codes to HTTP statuses; nothing here ever sends a stack trace.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getLogger } from "@logtape/logtape";
import { type ErrorCode, FilaError } from "../tasks/engine/errors.ts";
import { z } from "@hono/zod-openapi";

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  upstream_failed: 502,
  unavailable: 503,
};

export const errorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ example: "validation_failed" }),
    message: z.string().openapi({ example: "payload does not fit task type 'sum'" }),
    details: z.unknown().optional(),
  }),
}).openapi("Error");

/** An OpenAPI response entry: a JSON body of `schema`. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Answers `error` as JSON with the status its code maps to. */
export function sendFilaError(c: Context, error: FilaError) {
  return c.json(errorBody(error.code, error.message, error.details), STATUS[error.code]);
}

const log = getLogger(["fila", "http"]);

/** The app's one `onError`: known errors to their statuses, anything else to a bare 500 or 503. */
export function handleError(error: Error, c: Context) {
  if (error instanceof FilaError) return sendFilaError(c, error);
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
    return c.json(errorBody(code, error.message || "bad request"), status);
  }
  if (isDatabaseBusy(error)) {
    log.warn("database busy on {method} {path}", { method: c.req.method, path: c.req.path });
    c.header("Retry-After", "1");
    return c.json(errorBody("unavailable", "the database is busy; try again shortly"), 503);
  }
  log.error("unhandled error on {method} {path}: {error}", {
    method: c.req.method,
    path: c.req.path,
    error: String(error),
    stack: error.stack,
  });
  return c.json(errorBody("internal", "internal error"), 500);
}

function isDatabaseBusy(error: unknown): boolean {
  const text = String((error as { code?: string })?.code ?? "") + String(error);
  return /SQLITE_BUSY|database is locked/i.test(text);
}

/** zod-openapi's hook: a request that fails its schema is a 400 that lists the issues. */
export function validationHook(
  result: { success: boolean; error?: z.ZodError; target?: string },
  c: Context,
) {
  if (!result.success && result.error) {
    const issues = result.error.issues.map((i) => ({
      path: i.path.join("."),
      message: i.message,
    }));
    const first = issues[0];
    const where = result.target === "json" ? "body" : result.target ?? "request";
    const message = first
      ? `invalid ${where}: ${first.path ? `${first.path}: ` : ""}${first.message}`
      : `invalid ${where}`;
    return c.json(errorBody("validation_failed", message, { issues }), 400);
  }
}
