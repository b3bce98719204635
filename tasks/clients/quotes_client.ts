/**
 * The quotes upstream: AwesomeAPI's `/json/last/USD-BRL,EUR-BRL,…`, one request for
 * every pair. Its numbers arrive as strings, `timestamp` in epoch seconds and
 * `create_date` as São Paulo local time; this module turns them into numbers and
 * ISO 8601 UTC, and every fault into a `QuotesUpstreamError` that says what went wrong.
 */

import type { Quote } from "../stores.ts";

export type { Quote };

export class QuotesUpstreamError extends Error {
  constructor(message: string, readonly status?: number, readonly retryAfterMs?: number) {
    super(message);
    this.name = "QuotesUpstreamError";
  }
}

export interface QuotesClientOptions {
  baseUrl: string;
  timeoutMs: number;
}

/** AwesomeAPI's create_date is local time in São Paulo (UTC−3, no daylight saving since 2019). */
const SAO_PAULO_OFFSET = "-03:00";

/** Fetches the last quote of every pair in one call. */
export async function fetchQuotes(pairs: string[], options: QuotesClientOptions): Promise<Quote[]> {
  const base = options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`;
  const url = `${base}${pairs.join(",")}`;
  let res: Response;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(options.timeoutMs),
      headers: { accept: "application/json" },
    });
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    throw new QuotesUpstreamError(
      timedOut
        ? `quotes upstream did not answer within ${options.timeoutMs} ms`
        : `quotes upstream unreachable: ${error instanceof Error ? error.message : error}`,
    );
  }
  let text: string;
  try {
    text = await res.text();
  } catch (error) {
    throw new QuotesUpstreamError(`quotes upstream body unreadable: ${error}`, res.status);
  }
  if (res.status === 429) {
    throw new QuotesUpstreamError(
      "quotes upstream rate-limited us (429)",
      429,
      parseRetryAfter(res.headers.get("retry-after")),
    );
  }
  if (!res.ok) {
    throw new QuotesUpstreamError(
      `quotes upstream answered ${res.status}: ${text.slice(0, 200)}`,
      res.status,
    );
  }
  let body: Record<string, Record<string, string>>;
  try {
    body = JSON.parse(text);
  } catch {
    throw new QuotesUpstreamError(
      `quotes upstream sent something other than JSON: ${text.slice(0, 80)}`,
      res.status,
    );
  }
  if (typeof body !== "object" || body === null) {
    throw new QuotesUpstreamError("quotes upstream sent an unexpected JSON shape", res.status);
  }
  return pairs.map((pair) => toQuote(pair, body[pair.replace("-", "")]));
}

function toQuote(pair: string, raw: Record<string, string> | undefined): Quote {
  if (!raw || typeof raw !== "object") {
    throw new QuotesUpstreamError(`quotes upstream has no ${pair} in its answer`);
  }
  const number = (field: string, optional = false): number => {
    const value = Number(raw[field]);
    if (raw[field] === undefined || raw[field] === "" || !Number.isFinite(value)) {
      if (optional) return NaN;
      throw new QuotesUpstreamError(
        `quotes upstream sent a bad ${field} for ${pair}: ${raw[field]}`,
      );
    }
    return value;
  };
  const seconds = number("timestamp");
  const createDate = Date.parse(`${String(raw.create_date).replace(" ", "T")}${SAO_PAULO_OFFSET}`);
  const optional = (field: string) => {
    const v = number(field, true);
    return Number.isNaN(v) ? null : v;
  };
  return {
    pair,
    code: String(raw.code ?? pair.split("-")[0]),
    codein: String(raw.codein ?? pair.split("-")[1]),
    name: String(raw.name ?? pair),
    high: number("high"),
    low: number("low"),
    bid: number("bid"),
    ask: number("ask"),
    varBid: optional("varBid"),
    pctChange: optional("pctChange"),
    timestamp: seconds * 1000,
    createDate: Number.isFinite(createDate)
      ? new Date(createDate).toISOString()
      : new Date(seconds * 1000).toISOString(),
  };
}

/** Retry-After in seconds or as an HTTP date; 60 s when absent or unreadable. */
function parseRetryAfter(header: string | null): number {
  if (!header) return 60_000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 60_000;
}
