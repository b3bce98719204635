import { z } from "zod";
import { RetryLaterError } from "../engine/errors.ts";
import { QuotesUpstreamError } from "../clients/quotes_client.ts";
import { defineTask } from "./define_task.ts";

/** Fetches every configured pair in one upstream call and stores the readings. */
export const refreshQuotes = defineTask({
  type: "refresh_quotes",
  description: "Fetches the latest quotes of every configured pair (QUOTE_PAIRS) and stores them.",
  input: z.object({}).strict().default({}),
  example: {},
  defaults: { priority: "high", maxAttempts: 5, timeoutMs: 30_000 },
  async run({ services }) {
    try {
      const rows = await services.quotes.refresh();
      return { pairs: rows.map((r) => r.pair), stored: rows.length };
    } catch (error) {
      // a 429 waits at least as long as the upstream asked
      if (error instanceof QuotesUpstreamError && error.retryAfterMs !== undefined) {
        throw new RetryLaterError(error.message, error.retryAfterMs);
      }
      throw error;
    }
  },
});
