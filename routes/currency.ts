/**
 * /currency: the latest stored quote (from memory), a fetch-now, history and the
 * configured pairs. Unknown pairs are a 400 that lists the configured ones.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { QuoteRow } from "../db/schema.ts";
import type { QuotesService } from "../tasks/clients/quotes_service.ts";
import { FilaError } from "../tasks/engine/errors.ts";
import { errorSchema, jsonResponse as json, validationHook } from "./errors.ts";

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
  timestamp: z.string().openapi({ description: "Upstream reading time, ISO 8601 UTC" }),
  create_date: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
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
  tags: ["currency"],
  summary: "Latest stored quote of a pair",
  request: { query: pairQuery },
  responses: {
    200: json(quoteSchema, "The newest stored reading"),
    400: json(errorSchema, "Unknown pair"),
    404: json(errorSchema, "No quote stored yet (says why)"),
  },
});

const fetchNowRoute = createRoute({
  method: "get",
  path: "/currency/latest",
  tags: ["currency"],
  summary: "Fetch every pair from the upstream now, store, and return the pair",
  request: { query: pairQuery },
  responses: {
    200: json(quoteSchema, "The reading just fetched"),
    400: json(errorSchema, "Unknown pair"),
    502: json(errorSchema, "The upstream failed; stored quotes are untouched"),
  },
});

const historyRoute = createRoute({
  method: "get",
  path: "/currency/history",
  tags: ["currency"],
  summary: "Stored readings of a pair, newest first",
  request: {
    query: pairQuery.extend({
      from: z.iso.datetime({ offset: true }).optional(),
      to: z.iso.datetime({ offset: true }).optional(),
      limit: z.coerce.number().int().min(1).max(10_000).default(100),
    }),
  },
  responses: {
    200: json(
      z.object({ pair: z.string(), quotes: z.array(quoteSchema), count: z.number().int() }),
      "Readings",
    ),
    400: json(errorSchema, "Unknown pair or bad range"),
  },
});

const pairsRoute = createRoute({
  method: "get",
  path: "/currency/pairs",
  tags: ["currency"],
  summary: "The configured pairs",
  responses: { 200: json(z.object({ pairs: z.array(z.string()) }), "QUOTE_PAIRS") },
});

/** The largest epoch ms a Date holds. */
const MAX_DATE_MS = 8.64e15;

/**
 * ISO 8601 of epoch ms. A time past Date's range (a bad row stored before readings
 * were checked) is clamped: `toISOString` would throw and fail the whole answer.
 */
const iso = (ms: number) =>
  new Date(Number.isFinite(ms) ? Math.max(-MAX_DATE_MS, Math.min(MAX_DATE_MS, ms)) : 0)
    .toISOString();

/**
 * The view of a stored quote, made once per row object: QuotesService hands out
 * the same row until it re-reads, and /currency is the hottest read there is.
 */
const quoteViews = new WeakMap<QuoteRow, ReturnType<typeof toQuoteView>>();

function cachedQuoteView(row: QuoteRow): ReturnType<typeof toQuoteView> {
  let view = quoteViews.get(row);
  if (view === undefined) {
    view = toQuoteView(row);
    quoteViews.set(row, view);
  }
  return view;
}

/** A quote as the API answers it. */
export function toQuoteView(row: QuoteRow) {
  return {
    id: row.id,
    pair: row.pair,
    code: row.code,
    codein: row.codein,
    name: row.name,
    high: row.high,
    low: row.low,
    bid: row.bid,
    ask: row.ask,
    var_bid: row.varBid,
    pct_change: row.pctChange,
    timestamp: iso(row.timestamp),
    create_date: row.createDate,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

export function currencyRouter(quotes: QuotesService) {
  const app = new OpenAPIHono({ defaultHook: validationHook });
  const pairOf = (requested: string | undefined) => {
    const pair = (requested ?? "USD-BRL").toUpperCase();
    if (!quotes.pairs.includes(pair)) {
      throw new FilaError(
        "validation_failed",
        `unknown pair '${pair}'; configured: ${quotes.pairs.join(", ")}`,
        {
          pairs: quotes.pairs,
        },
      );
    }
    return pair;
  };

  app.openapi(latestStoredRoute, async (c) => {
    const pair = pairOf(c.req.valid("query").pair);
    const row = await quotes.latest(pair);
    if (!row) {
      const lastError = await quotes.lastRefreshError();
      throw new FilaError(
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
    let rows: QuoteRow[];
    try {
      rows = await quotes.refresh();
    } catch (error) {
      throw new FilaError(
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
      throw new FilaError("validation_failed", "from is after to");
    }
    const rows = await quotes.history(pair, from, to, q.limit);
    return c.json({ pair, quotes: rows.map(toQuoteView), count: rows.length }, 200);
  });

  app.openapi(pairsRoute, (c) => c.json({ pairs: quotes.pairs }, 200));
  return app;
}
