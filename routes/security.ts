/**
 * Who may call: a Bearer token on every route but health, metrics and the
 * dashboard's static files (compared in constant time by Hono's bearerAuth),
 * secure headers everywhere, and CORS closed unless origins are configured.
 */
import type { MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import { errorBody } from "./errors.ts";

/**
 * Paths anyone may read: probes, the API's description (the docs page asks for
 * the token itself, through Swagger UI's Authorize), and static files.
 */
const PUBLIC_PATHS = [
  /^\/(api\/v1\/)?health\/?$/,
  /^\/(api\/v1\/)?metrics\/?$/,
  /^\/$/,
  /^\/dashboard\/assets\//,
  /^\/openapi\.json$/,
  /^\/docs(\/assets\/[\w.-]+)?$/,
];

export function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.some((p) => p.test(path));
}

/** Requires `Authorization: Bearer <token>` outside the public paths; answers 401 JSON otherwise. */
export function requireToken(token: string): MiddlewareHandler {
  const challenge = 'Bearer realm="fila"';
  const check = bearerAuth({
    token,
    noAuthenticationHeader: {
      message: errorBody("unauthorized", "send Authorization: Bearer <API_TOKEN>"),
    },
    invalidAuthenticationHeader: {
      message: errorBody("unauthorized", "the Authorization header must be Bearer <token>"),
    },
    invalidToken: {
      message: errorBody("unauthorized", "the token is not valid"),
      wwwAuthenticateHeader: challenge,
    },
  });
  return (c, next) => isPublicPath(c.req.path) ? next() : check(c, next);
}

/** Secure headers; the CSP allows this origin's own scripts and styles (dashboard, docs). */
export function securityHeaders(): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", "'unsafe-inline'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
    },
  });
}

/** CORS for the configured origins only; with none configured, no CORS headers at all. */
export function corsFor(origins: string | undefined): MiddlewareHandler | null {
  const list = origins?.split(",").map((o) => o.trim()).filter(Boolean) ?? [];
  if (list.length === 0) return null;
  return cors({
    origin: list,
    allowHeaders: [
      "Authorization",
      "Content-Type",
      "Idempotency-Key",
      "Last-Event-ID",
      "X-Request-Id",
    ],
    exposeHeaders: ["Location", "X-Request-Id"],
  });
}
