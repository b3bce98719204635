/**
 * Quotes as the rest of Fila sees them: refresh (upstream -> store), and the latest
 * quote per pair served from memory. The cache is refilled when this instance
 * stores a reading and re-read from the store after `CACHE_TTL_MS`, so readings
 * stored by other instances show up within that time.
 *
 * Toward the upstream it is polite: one call in flight at a time (a refresh asked
 * for while one runs shares it), and after a 429 no call until the Retry-After has
 * passed. Both are per instance: another instance learns of a 429 from its own
 * first call.
 */
import type { QuoteStore, StoredQuote } from "../stores.ts";
import {
  fetchQuotes,
  type QuotesClientOptions,
  QuotesUpstreamError,
  READING_MAX_AHEAD_MS,
  type RefusedReading,
} from "./quotes_client.ts";

const CACHE_TTL_MS = 2_000;

/** A refresh not sent because the upstream asked us (429 Retry-After) to wait. */
export class UpstreamWaitError extends QuotesUpstreamError {
  constructor(readonly until: number) {
    super(
      `quotes upstream asked us to wait until ${new Date(until).toISOString()} (429 ` +
        `Retry-After); not calling it before then`,
      429,
      Math.max(0, until - Date.now()),
    );
    this.name = "UpstreamWaitError";
  }
}

/** Some readings of an answer failed their checks; the others (`stored`) were stored. */
export class RefusedReadingsError extends QuotesUpstreamError {
  constructor(readonly stored: StoredQuote[], readonly refused: RefusedReading[]) {
    const kept = stored.length > 0 ? `; stored ${stored.map((r) => r.pair).join(", ")}` : "";
    super(`refused ${refused.map((r) => r.reason).join("; ")}${kept}`);
    this.name = "RefusedReadingsError";
  }
}

/** What a refresh task that did not call the upstream reports as its result. */
export interface SkippedRefresh {
  skipped: "upstream_wait" | "superseded";
  reason: string;
  stored: 0;
}

export class QuotesService {
  private readonly cache = new Map<string, { row: StoredQuote | undefined; readAt: number }>();
  private inFlight: Promise<StoredQuote[]> | null = null;
  /** Epoch ms before which the upstream asked not to be called (its last 429). */
  private waitUntil = 0;

  constructor(
    private readonly repo: QuoteStore,
    /** The newest refresh_quotes task (any instance's), for its error. */
    private readonly latestRefresh: () => Promise<
      { status: string; error: string | null; result: unknown } | undefined
    >,
    readonly pairs: string[],
    private readonly client: QuotesClientOptions,
  ) {}

  /**
   * Fetches every configured pair in one upstream call and stores the readings.
   * Throws `UpstreamWaitError` without calling while a 429's wait lasts, and
   * `RefusedReadingsError` (after storing the rest) when readings fail their checks.
   */
  refresh(): Promise<StoredQuote[]> {
    if (Date.now() < this.waitUntil) return Promise.reject(new UpstreamWaitError(this.waitUntil));
    this.inFlight ??= this.fetchAndStore().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async fetchAndStore(): Promise<StoredQuote[]> {
    let answer;
    try {
      answer = await fetchQuotes(this.pairs, this.client);
    } catch (error) {
      if (error instanceof QuotesUpstreamError && error.status === 429) {
        this.waitUntil = Math.max(this.waitUntil, Date.now() + (error.retryAfterMs ?? 0));
      }
      throw error;
    }
    const rows = await this.repo.upsert(answer.quotes, Date.now());
    const now = Date.now();
    for (const row of rows) {
      const cached = this.cache.get(row.pair)?.row;
      if (!cached || cached.timestamp <= row.timestamp) {
        this.cache.set(row.pair, { row, readAt: now });
      }
    }
    if (answer.refused.length > 0) throw new RefusedReadingsError(rows, answer.refused);
    return rows;
  }

  /**
   * The newest stored quote of `pair`, from memory when fresh enough. Rows dated
   * in the future (stored before readings were checked) are passed over: one would
   * otherwise stay "the latest" for good.
   */
  async latest(pair: string): Promise<StoredQuote | undefined> {
    const cached = this.cache.get(pair);
    if (cached && Date.now() - cached.readAt < CACHE_TTL_MS) return cached.row;
    const [row] = await this.repo.history(pair, undefined, this.newestPlausible(), 1);
    this.cache.set(pair, { row, readAt: Date.now() });
    return row;
  }

  /** Stored readings of a pair, newest first, leaving out rows dated in the future. */
  history(pair: string, from: number | undefined, to: number | undefined, limit: number) {
    const newest = this.newestPlausible();
    return this.repo.history(pair, from, to === undefined ? newest : Math.min(to, newest), limit);
  }

  private newestPlausible(): number {
    return Date.now() + READING_MAX_AHEAD_MS;
  }

  /**
   * Why quotes may be stale, or null: the upstream's pending 429 wait, else the
   * error of the latest refresh task if it did not succeed, or the reason it skipped
   * its call because of a wait (any instance).
   */
  async lastRefreshError(): Promise<string | null> {
    if (Date.now() < this.waitUntil) return new UpstreamWaitError(this.waitUntil).message;
    const task = await this.latestRefresh();
    if (!task) return null;
    if (task.status !== "succeeded") return task.error;
    const result = task.result as Partial<SkippedRefresh> | null;
    return result?.skipped === "upstream_wait" ? result.reason ?? null : null;
  }

  /** Every stored reading of `pair` in `month` (YYYY-MM), oldest first. */
  month(pair: string, month: string): Promise<StoredQuote[]> {
    return this.repo.month(pair, month);
  }

  newestUpdate(): Promise<number | null> {
    return this.repo.newestUpdate();
  }
}
