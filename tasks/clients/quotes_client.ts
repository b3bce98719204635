/**
 * The quotes upstream: AwesomeAPI's `/json/last/USD-BRL,EUR-BRL,...`, one request for
 * every pair. Its numbers arrive as strings, `timestamp` in epoch seconds and
 * `create_date` as São Paulo local time; this module turns them into numbers and
 * ISO 8601 UTC, and every fault into a `QuotesUpstreamError` that says what went wrong.
 *
 * Readings are checked before anyone stores them: one with a timestamp far in the
 * future (or in milliseconds, which reads as the year 58,000) would otherwise be "the
 * latest" quote for good. A reading that fails a check is refused on its own; the
 * other pairs of the same answer still count.
 */

import type { Quote } from "../stores.ts";

export type { Quote };

export class QuotesUpstreamError extends Error {
  constructor(message: string, readonly status?: number, readonly retryAfterMs?: number) {
    super(message);
    this.name = "QuotesUpstreamError";
  }
}

/** A pair of the answer that was not turned into a Quote, and why. */
export interface RefusedReading {
  pair: string;
  reason: string;
}

/** One upstream answer: the readings that passed the checks, and those that did not. */
export interface QuotesAnswer {
  quotes: Quote[];
  refused: RefusedReading[];
}

/** How far ahead of our clock a reading may be (clock skew between us and the upstream). */
export const READING_MAX_AHEAD_MS = 5 * 60_000;
/**
 * How old the "last" reading of a pair may be: markets close for weekends and
 * holidays, never for a month.
 */
export const READING_MAX_AGE_MS = 30 * 86_400_000;
/** The longest Retry-After honoured; a longer one (`999999999`) is cut to this. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

export interface QuotesClientOptions {
  baseUrl: string;
  timeoutMs: number;
}

/** AwesomeAPI's create_date is local time in São Paulo (UTC-3, no daylight saving since 2019). */
const SAO_PAULO_OFFSET = "-03:00";

/**
 * Fetches the last quote of every pair in one call. A fault of the whole answer
 * throws; a pair missing or failing a check is listed in `refused`.
 */
export async function fetchQuotes(
  pairs: string[],
  options: QuotesClientOptions,
): Promise<QuotesAnswer> {
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
  const answer: QuotesAnswer = { quotes: [], refused: [] };
  const now = Date.now();
  for (const pair of pairs) {
    try {
      answer.quotes.push(toQuote(pair, body[pair.replace("-", "")], now));
    } catch (error) {
      if (!(error instanceof QuotesUpstreamError)) throw error;
      answer.refused.push({ pair, reason: error.message });
    }
  }
  return answer;
}

function toQuote(pair: string, raw: Record<string, string> | undefined, now: number): Quote {
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
  const timestamp = Math.round(seconds * 1000);
  checkReadingTime(pair, raw.timestamp, timestamp, now);
  const createDate = Date.parse(`${String(raw.create_date).replace(" ", "T")}${SAO_PAULO_OFFSET}`);
  const optional = (field: string) => {
    const v = number(field, true);
    return Number.isNaN(v) ? null : v;
  };
  const prices = {
    high: number("high"),
    low: number("low"),
    bid: number("bid"),
    ask: number("ask"),
  };
  checkPrices(pair, prices);
  return {
    pair,
    code: String(raw.code ?? pair.split("-")[0]),
    codein: String(raw.codein ?? pair.split("-")[1]),
    name: String(raw.name ?? pair),
    ...prices,
    varBid: optional("varBid"),
    pctChange: optional("pctChange"),
    timestamp,
    createDate: Number.isFinite(createDate) && Math.abs(createDate - timestamp) <= 86_400_000
      ? new Date(createDate).toISOString()
      : new Date(timestamp).toISOString(),
  };
}

/** The reading time must be epoch seconds near our clock: not ahead, not a month old. */
function checkReadingTime(pair: string, sent: string, timestamp: number, now: number) {
  if (timestamp > now + READING_MAX_AHEAD_MS) {
    // a time sent in milliseconds, read as seconds, is past the year 7,000
    const hint = timestamp / 1000 > now / 10 ? " (milliseconds, not seconds?)" : "";
    throw new QuotesUpstreamError(
      `quotes upstream sent a ${pair} reading from the future: timestamp ${sent}${hint} is ` +
        `after ${new Date(now + READING_MAX_AHEAD_MS).toISOString()}`,
    );
  }
  if (timestamp < now - READING_MAX_AGE_MS) {
    throw new QuotesUpstreamError(
      `quotes upstream sent a stale ${pair} reading: timestamp ${sent} is more than ` +
        `${READING_MAX_AGE_MS / 86_400_000} days old`,
    );
  }
}

/** Prices are positive, high is not below low, and bid and ask are the same order of magnitude. */
function checkPrices(
  pair: string,
  p: { high: number; low: number; bid: number; ask: number },
) {
  const bad = (why: string) =>
    new QuotesUpstreamError(
      `quotes upstream sent an implausible ${pair} reading (${why}): bid ${p.bid}, ask ${p.ask}, ` +
        `high ${p.high}, low ${p.low}`,
    );
  if (!(p.bid > 0 && p.ask > 0 && p.high > 0 && p.low > 0)) throw bad("prices must be positive");
  if (p.high < p.low) throw bad("high below low");
  if (p.ask > p.bid * 2 || p.bid > p.ask * 2) throw bad("bid and ask more than a factor 2 apart");
}

/**
 * Retry-After in seconds or as an HTTP date; 60 s when absent or unreadable, and
 * never more than `MAX_RETRY_AFTER_MS`.
 */
export function parseRetryAfter(header: string | null): number {
  const wait = (ms: number) => Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
  if (!header?.trim()) return 60_000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return wait(seconds * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? wait(at - Date.now()) : 60_000;
}
