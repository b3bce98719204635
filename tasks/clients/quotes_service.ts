/**
 * Quotes as the rest of Fila sees them: refresh (upstream → store), and the latest
 * quote per pair served from memory. The cache is refilled when this instance
 * stores a reading and re-read from the store after `CACHE_TTL_MS`, so readings
 * stored by other instances show up within that time.
 */
import type { QuoteStore, StoredQuote } from "../stores.ts";
import { fetchQuotes, type QuotesClientOptions } from "./quotes_client.ts";

const CACHE_TTL_MS = 2_000;

export class QuotesService {
  private readonly cache = new Map<string, { row: StoredQuote | undefined; readAt: number }>();

  constructor(
    private readonly repo: QuoteStore,
    /** The newest refresh_quotes task (any instance's), for its error. */
    private readonly latestRefresh: () => Promise<
      { status: string; error: string | null } | undefined
    >,
    readonly pairs: string[],
    private readonly client: QuotesClientOptions,
  ) {}

  /** Fetches every configured pair in one upstream call and stores the readings. */
  async refresh(): Promise<StoredQuote[]> {
    const readings = await fetchQuotes(this.pairs, this.client);
    const rows = await this.repo.upsert(readings, Date.now());
    const now = Date.now();
    for (const row of rows) {
      const cached = this.cache.get(row.pair)?.row;
      if (!cached || cached.timestamp <= row.timestamp) {
        this.cache.set(row.pair, { row, readAt: now });
      }
    }
    return rows;
  }

  /** The newest stored quote of `pair`, from memory when fresh enough. */
  async latest(pair: string): Promise<StoredQuote | undefined> {
    const cached = this.cache.get(pair);
    if (cached && Date.now() - cached.readAt < CACHE_TTL_MS) return cached.row;
    const row = await this.repo.latest(pair);
    this.cache.set(pair, { row, readAt: Date.now() });
    return row;
  }

  history(pair: string, from: number | undefined, to: number | undefined, limit: number) {
    return this.repo.history(pair, from, to, limit);
  }

  /** Every stored reading of `pair` in `month` (YYYY-MM), oldest first. */
  month(pair: string, month: string): Promise<StoredQuote[]> {
    return this.repo.month(pair, month);
  }

  /** The error of the latest refresh task, if it did not succeed (any instance). */
  async lastRefreshError(): Promise<string | null> {
    const task = await this.latestRefresh();
    return task && task.status !== "succeeded" ? task.error : null;
  }

  newestUpdate(): Promise<number | null> {
    return this.repo.newestUpdate();
  }
}
