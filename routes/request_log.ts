/**
 * One log line per request (method, path, status, duration), and the request's
 * id in every line logged while it is handled (LogTape implicit context).
 * Bodies, query strings and headers are not logged: they may hold payloads or tokens.
 */
import { getLogger, withContext } from "@logtape/logtape";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.ts";

const log = getLogger(["fila", "http"]);

export function requestLog(): MiddlewareHandler<AppEnv> {
  return (c, next) =>
    withContext({ requestId: c.get("requestId") }, async () => {
      const started = performance.now();
      await next();
      const status = c.res.status;
      const fields = {
        method: c.req.method,
        path: c.req.path,
        status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      };
      if (status >= 500) log.error("{method} {path} {status} in {durationMs} ms", fields);
      else log.info("{method} {path} {status} in {durationMs} ms", fields);
    });
}
