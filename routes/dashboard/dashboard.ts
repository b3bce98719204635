/**
 * The dashboard at `/`: one HTML shell, a script, a stylesheet and uPlot, all
 * read once at start-up and served by the app with cache headers (no build step,
 * no CDN). The shell and assets need no token; the page asks for one when the
 * API answers 401.
 */
import { Hono } from "hono";

const here = (file: string) => new URL(file, import.meta.url);
const uplot = (file: string) => new URL(`../../node_modules/uplot/dist/${file}`, import.meta.url);

const ASSETS: Record<string, { url: URL; type: string }> = {
  "app.js": { url: here("./app.js"), type: "text/javascript; charset=utf-8" },
  "style.css": { url: here("./style.css"), type: "text/css; charset=utf-8" },
  "uplot.js": { url: uplot("uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "uplot.css": { url: uplot("uPlot.min.css"), type: "text/css; charset=utf-8" },
};

export async function dashboardRouter(version: string) {
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const [name, { url }] of Object.entries(ASSETS)) files.set(name, await Deno.readFile(url));
  const shell = (await Deno.readTextFile(here("./index.html"))).replaceAll("{{VERSION}}", version);
  const etag = `"${version}"`;

  const app = new Hono();
  app.get("/", (c) => {
    c.header("Cache-Control", "no-cache");
    return c.html(shell);
  });
  app.get("/dashboard/assets/:file", (c) => {
    const name = c.req.param("file");
    const body = Object.hasOwn(ASSETS, name) ? files.get(name) : undefined;
    if (!body) return c.json({ error: { code: "not_found", message: `no asset ${name}` } }, 404);
    if (c.req.header("if-none-match") === etag) return c.body(null, 304);
    // the shell links assets with ?v=<version>, so a day of caching never serves stale code
    return c.body(body, 200, {
      "content-type": ASSETS[name].type,
      "cache-control": "public, max-age=86400",
      etag,
    });
  });
  return app;
}
