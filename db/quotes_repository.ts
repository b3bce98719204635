/** Reads and writes of `quotes`. A repeated upstream reading only refreshes updated_at. */
import { and, desc, eq, gte, lt, lte, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { type QuoteRow, quotes } from "./schema.ts";
import type { Quote } from "../tasks/clients/quotes_client.ts";

export class QuotesRepository {
  constructor(private readonly db: Database) {}

  /** Stores readings; (pair, timestamp) already there → only updated_at moves. */
  async upsert(readings: Quote[], now = Date.now()): Promise<QuoteRow[]> {
    if (readings.length === 0) return [];
    return await this.db.insert(quotes).values(
      readings.map((q) => ({ ...q, createdAt: now, updatedAt: now })),
    )
      .onConflictDoUpdate({
        target: [quotes.pair, quotes.timestamp],
        set: { updatedAt: sql`excluded.updated_at` },
      })
      .returning();
  }

  async latest(pair: string): Promise<QuoteRow | undefined> {
    const [row] = await this.db.select().from(quotes).where(eq(quotes.pair, pair))
      .orderBy(desc(quotes.timestamp)).limit(1);
    return row;
  }

  /** Readings of a pair between two times (epoch ms), newest first. */
  history(
    pair: string,
    from: number | undefined,
    to: number | undefined,
    limit: number,
  ): Promise<QuoteRow[]> {
    return this.db.select().from(quotes).where(and(
      eq(quotes.pair, pair),
      from === undefined ? undefined : gte(quotes.timestamp, from),
      to === undefined ? undefined : lte(quotes.timestamp, to),
    )).orderBy(desc(quotes.timestamp)).limit(limit);
  }

  /** Every reading of a pair in a month (YYYY-MM, UTC), oldest first. */
  month(pair: string, month: string): Promise<QuoteRow[]> {
    const from = Date.parse(`${month}-01T00:00:00Z`);
    const next = new Date(from);
    next.setUTCMonth(next.getUTCMonth() + 1);
    return this.db.select().from(quotes).where(and(
      eq(quotes.pair, pair),
      gte(quotes.timestamp, from),
      lt(quotes.timestamp, next.getTime()),
    )).orderBy(quotes.timestamp);
  }

  /** When the newest reading of any pair was stored (epoch ms), or null. */
  async newestUpdate(): Promise<number | null> {
    const [row] = await this.db.select({ at: sql<number | null>`max(${quotes.updatedAt})` }).from(
      quotes,
    );
    return row?.at ?? null;
  }
}
