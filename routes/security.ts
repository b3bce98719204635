/**
 * Who may call: a Bearer token on every route but health, metrics and the
 * dashboard's static files (compared in constant time),
 * secure headers everywhere, and CORS closed unless origins are configured.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import { timingSafeEqual } from "hono/utils/buffer";
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

/**
 * Requires `Authorization: Bearer <token>` outside the public paths; answers 401 JSON
 * otherwise. Written here rather than with Hono's bearerAuth, which accepts only
 * RFC 6750's token68 characters and answers 400 to any other token: a configured
 * `API_TOKEN` with punctuation (`p@ss:w0rd!`) would lock every caller out. Any
 * visible ASCII token is accepted (config.ts refuses the rest at start), and it is
 * compared in constant time.
 */
export function requireToken(token: string): MiddlewareHandler {
  return async (c, next) => {
    if (isPublicPath(c.req.path)) return await next();
    const refuse = (message: string, error?: "invalid_request" | "invalid_token") => {
      c.header("WWW-Authenticate", `Bearer realm="fila"${error ? `, error="${error}"` : ""}`);
      return c.json(errorBody("unauthorized", message), 401);
    };
    const header = c.req.header("authorization");
    if (!header) return refuse("send Authorization: Bearer <API_TOKEN>");
    const sent = header.match(BEARER)?.[1];
    if (sent === undefined) {
      return refuse("the Authorization header must be Bearer <token>", "invalid_request");
    }
    if (!await timingSafeEqual(sent, token)) {
      return refuse("the token is not valid", "invalid_token");
    }
    await next();
  };
}

/** `Bearer <token>`: the scheme in any case, the token one run of non-space characters. */
const BEARER = /^Bearer +(\S+) *$/i;

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
