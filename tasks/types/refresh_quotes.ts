import { z } from "zod";
import { RetryLaterError, UnrecoverableError } from "../engine/errors.ts";
import { QuotesUpstreamError } from "../clients/quotes_client.ts";
import {
  RefusedReadingsError,
  type SkippedRefresh,
  UpstreamWaitError,
} from "../clients/quotes_service.ts";
import { defineTask } from "./define_task.ts";
import type { BuiltinSchedule } from "../scheduler.ts";

/**
 * How long a cron-submitted refresh stays worth running. Later ticks submit their
 * own, so an older one that is still waiting (a retry, a backlog after an outage)
 * would only add upstream calls: it ends as superseded, and no retry of it is
 * scheduled past this point.
 */
export const SUPERSEDED_AFTER_MS = 2 * 60_000;

/**
 * Fetches every configured pair in one upstream call and stores the readings.
 * The minute cron names its tick in the payload: such a refresh that waited past
 * its use (a backlog, a long retry) ends without calling the upstream.
 */
export const refreshQuotes = defineTask({
  type: "refresh_quotes",
  description: "Fetches the latest quotes of every configured pair (QUOTE_PAIRS) and stores them.",
  input: z.object({
    /** The cron tick that submitted it (ISO 8601); a refresh asked for by hand has none. */
    tick: z.iso.datetime({ offset: true }).optional(),
  }).strict().default({}),
  example: {},
  defaults: { priority: "high", maxAttempts: 5, timeoutMs: 30_000 },
  async run({ input, submittedAt, services }) {
    // a cron refresh (it names its tick) is worth running for a while after it was submitted
    const usefulUntil = input.tick === undefined ? Infinity : submittedAt + SUPERSEDED_AFTER_MS;
    if (Date.now() > usefulUntil) {
      return {
        skipped: "superseded",
        reason: `submitted by the cron (tick ${input.tick}) more than ` +
          `${SUPERSEDED_AFTER_MS / 60_000} min ago: later ticks refresh`,
        stored: 0,
      } satisfies SkippedRefresh;
    }
    try {
      const rows = await services.quotes.refresh();
      return { pairs: rows.map((r) => r.pair), stored: rows.length };
    } catch (error) {
      // the upstream sent bad readings (the good ones are stored): asking again at
      // once would get the same answer, the next tick asks anew
      if (error instanceof RefusedReadingsError) throw new UnrecoverableError(error.message);
      // a 429, or a wait one asked for: retry after it, unless that is past this
      // refresh's use, when a later tick's refresh takes over
      if (error instanceof QuotesUpstreamError && error.retryAfterMs !== undefined) {
        if (Date.now() + error.retryAfterMs <= usefulUntil) {
          throw new RetryLaterError(error.message, error.retryAfterMs);
        }
        if (error instanceof UpstreamWaitError) {
          return {
            skipped: "upstream_wait",
            reason: error.message,
            stored: 0,
          } satisfies SkippedRefresh;
        }
        throw new UnrecoverableError(
          `${error.message}; asked to wait until ${
            new Date(Date.now() + error.retryAfterMs).toISOString()
          }, after later ticks: this refresh gives up`,
        );
      }
      throw error;
    }
  },
});

/** The built-in schedule of the refresh: QUOTES_CRON; each run names its tick. */
export function quoteRefreshSchedule(cron: string): BuiltinSchedule {
  return {
    name: "refresh_quotes",
    cron,
    type: "refresh_quotes",
    payloadFor: (tick) => ({ tick: tick.toISOString() }),
  };
}
