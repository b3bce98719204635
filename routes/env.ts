/**
 * The Hono bindings every router shares, declared once: what middleware puts
 * on the context (the request id), and a router factory that validates with
 * Fila's error shape.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { RequestIdVariables } from "hono/request-id";
import { validationHook } from "./errors.ts";

/** Context variables set by the app's middleware. */
export type AppEnv = { Variables: RequestIdVariables };

/** A router whose invalid requests answer Fila's 400. */
export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}
