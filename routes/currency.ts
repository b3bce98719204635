/**
 * /currency: the latest stored quote (from memory), a fetch-now, history and the
 * configured pairs. Unknown pairs are a 400 that lists the configured ones.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { QuotesService } from "../tasks/clients/quotes_service.ts";
import type { StoredQuote } from "../tasks/stores.ts";
import { newRouter } from "./env.ts";
import { ApiError, invalidField, jsonResponse as json } from "./errors.ts";
import { failures, STORE_FAILURES } from "./openapi.ts";
import { wholeNumber } from "./params.ts";
import { cachedQuoteView, toQuoteView } from "./views.ts";

const quoteSchema = z.object({
  id: z.number().int(),
  pair: z.string().openapi({ example: "USD-BRL" }),
  code: z.string().openapi({ example: "USD" }),
  codein: z.string().openapi({ example: "BRL" }),
  name: z.string(),
  high: z.number(),
  low: z.number(),
  bid: z.number().openapi({ example: 5.35 }),
  ask: z.number(),
  var_bid: z.number().nullable(),
  pct_change: z.number().nullable(),
  timestamp: z.string().nullable().openapi({ description: "Upstream reading time, ISO 8601 UTC" }),
  create_date: z.string(),
  created_at: z.string().nullable(),
  updated_at: z.string().nullable(),
}).openapi("Quote");

const pairQuery = z.object({
  pair: z.string().max(30).optional().openapi({
    example: "USD-BRL",
    description: "Default USD-BRL",
  }),
});

const latestStoredRoute = createRoute({
  method: "get",
  path: "/currency",
  operationId: "getQuote",
  tags: ["currency"],
  summary: "Latest stored quote of a pair",
  request: { query: pairQuery },
  responses: {
    200: json(quoteSchema, "The newest stored reading"),
    ...failures({
      400: "Unknown pair (`error.details.pairs` lists the configured ones)",
      404: "No quote stored yet (says why)",
    }),
    ...STORE_FAILURES,
  },
});

const fetchNowRoute = createRoute({
  method: "get",
  path: "/currency/latest",
  operationId: "fetchLatestQuote",
  tags: ["currency"],
  summary: "Fetch every pair from the upstream now, store, and return the pair",
  request: { query: pairQuery },
  responses: {
    200: json(quoteSchema, "The reading just fetched"),
    ...failures({
      400: "Unknown pair (`error.details.pairs` lists the configured ones)",
      502: "The upstream failed; stored quotes are untouched",
    }),
    ...STORE_FAILURES,
  },
});

const historyRoute = createRoute({
  method: "get",
  path: "/currency/history",
  operationId: "listQuoteHistory",
  tags: ["currency"],
  summary: "Stored readings of a pair, newest first",
  request: {
    query: pairQuery.extend({
      from: z.iso.datetime({ offset: true }).optional(),
      to: z.iso.datetime({ offset: true }).optional(),
      limit: wholeNumber("limit", 1, 10_000).default(100),
    }),
  },
  responses: {
    200: json(
      z.object({ pair: z.string(), quotes: z.array(quoteSchema), count: z.number().int() })
        .openapi("QuoteHistory"),
      "Readings",
    ),
    ...failures({ 400: "Unknown pair or bad range" }),
    ...STORE_FAILURES,
  },
});

const pairsRoute = createRoute({
  method: "get",
  path: "/currency/pairs",
  operationId: "listQuotePairs",
  tags: ["currency"],
  summary: "The configured pairs",
  responses: {
    200: json(z.object({ pairs: z.array(z.string()) }).openapi("QuotePairs"), "QUOTE_PAIRS"),
  },
});

export function currencyRouter(quotes: QuotesService) {
  const app = newRouter();
  const pairOf = (requested: string | undefined) => {
    const pair = (requested ?? "USD-BRL").toUpperCase();
    if (!quotes.pairs.includes(pair)) {
      throw invalidField("pair", `unknown pair '${pair}'; configured: ${quotes.pairs.join(", ")}`, {
        pairs: quotes.pairs,
      });
    }
    return pair;
  };

  app.openapi(latestStoredRoute, async (c) => {
    const pair = pairOf(c.req.valid("query").pair);
    const row = await quotes.latest(pair);
    if (!row) {
      const lastError = await quotes.lastRefreshError();
      throw new ApiError(
        404,
        "not_found",
        `no ${pair} quote stored yet: ${
          lastError ? `the last refresh failed: ${lastError}` : "the first refresh has not finished"
        }`,
      );
    }
    return c.json(cachedQuoteView(row), 200);
  });

  app.openapi(fetchNowRoute, async (c) => {
    const pair = pairOf(c.req.valid("query").pair);
    let rows: StoredQuote[];
    try {
      rows = await quotes.refresh();
    } catch (error) {
      throw new ApiError(
        502,
        "upstream_failed",
        error instanceof Error ? error.message : String(error),
      );
    }
    const row = rows.find((r) => r.pair === pair)!;
    return c.json(toQuoteView(row), 200);
  });

  app.openapi(historyRoute, async (c) => {
    const q = c.req.valid("query");
    const pair = pairOf(q.pair);
    const from = q.from === undefined ? undefined : Date.parse(q.from);
    const to = q.to === undefined ? undefined : Date.parse(q.to);
    if (from !== undefined && to !== undefined && from > to) {
      throw invalidField("from", "from is after to");
    }
    const rows = await quotes.history(pair, from, to, q.limit);
    return c.json({ pair, quotes: rows.map(toQuoteView), count: rows.length }, 200);
  });

  app.openapi(pairsRoute, (c) => c.json({ pairs: quotes.pairs }, 200));
  return app;
}
