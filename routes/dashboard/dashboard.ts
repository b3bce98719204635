/**
 * The dashboard at `/`: one HTML shell, a script, a stylesheet and uPlot, served
 * by the app with cache headers (no build step, no CDN). The shell and assets
 * need no token; the page asks for one when the API answers 401.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { newRouter } from "../env.ts";
import { assetRoute } from "../openapi.ts";
import { staticFiles } from "../static_files.ts";

const here = (file: string) => new URL(file, import.meta.url);
const uplot = (file: string) => new URL(`../../node_modules/uplot/dist/${file}`, import.meta.url);

const ASSETS = {
  "app.js": { url: here("./app.js"), type: "text/javascript; charset=utf-8" },
  "style.css": { url: here("./style.css"), type: "text/css; charset=utf-8" },
  "uplot.js": { url: uplot("uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "uplot.css": { url: uplot("uPlot.min.css"), type: "text/css; charset=utf-8" },
};

const pageRoute = createRoute({
  method: "get",
  path: "/",
  operationId: "getDashboard",
  tags: ["dashboard"],
  summary: "The dashboard (it asks for the API token when the API answers 401)",
  responses: {
    200: { content: { "text/html": { schema: z.string() } }, description: "The page" },
  },
});

const assetsRoute = assetRoute(
  "/dashboard/assets/{file}",
  "getDashboardAsset",
  "dashboard",
  Object.keys(ASSETS),
);

/** The dashboard's router; reads its shell once (it carries the version). */
export async function dashboardRouter(version: string) {
  const shell = (await Deno.readTextFile(here("./index.html"))).replaceAll("{{VERSION}}", version);
  const app = newRouter();
  app.openapi(pageRoute, (c) => {
    c.header("Cache-Control", "no-cache");
    return c.html(shell) as never;
  });
  app.openapi(assetsRoute, staticFiles(ASSETS, version) as never);
  return app;
}
