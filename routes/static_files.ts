/**
 * Serves a fixed set of files (the dashboard's, Swagger UI's) by name: read
 * from disk on request (nothing large held in memory), with a content type,
 * a day of caching and an ETag of the service's version. An unknown name is a
 * 404, whatever it looks like (no path is ever built from the request).
 */
import type { Context } from "hono";
import { errorBody } from "./errors.ts";

export interface StaticFile {
  url: URL;
  type: string;
}

/** A handler answering `files[c.req.param(param)]`. */
export function staticFiles(files: Record<string, StaticFile>, version: string, param = "file") {
  const etag = `"${version}"`;
  return async (c: Context) => {
    const name = c.req.param(param) ?? "";
    const file = Object.hasOwn(files, name) ? files[name] : undefined;
    if (!file) return c.json(errorBody("not_found", `no file named '${name}'`), 404);
    if (c.req.header("if-none-match") === etag) return c.body(null, 304);
    const body = await Deno.readFile(file.url);
    // pages link their files with ?v=<version>, so a day of caching never serves stale code
    return c.body(body, 200, {
      "content-type": file.type,
      "cache-control": "public, max-age=86400",
      etag,
    });
  };
}
