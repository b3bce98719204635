/**
 * QuoteStore, OutboxStore, SalesStore and ScheduleStore on PostgreSQL (as
 * db/libsql/app_stores.ts on libSQL).
 */
import { and, count, desc, eq, gte, isNull, like, lt, lte, or, sql } from "drizzle-orm";
// @ts-types="npm:@types/pg@^8.23.1"
import type pg from "pg";
import type {
  NewMail,
  OutboxStore,
  Quote,
  QuoteStore,
  Sale,
  SalesStore,
  Schedule,
  ScheduleStore,
  StoredMail,
  StoredQuote,
} from "../../tasks/stores.ts";
import { guarded } from "../store_errors.ts";
import type { Database } from "./connect.ts";
import { outbox, quotes, sales, schedules } from "./schema.ts";

export class PostgresQuoteStore implements QuoteStore {
  constructor(private readonly db: Database) {}

  upsert(readings: Quote[], now: number): Promise<StoredQuote[]> {
    if (readings.length === 0) return Promise.resolve([]);
    return guarded(() =>
      this.db.insert(quotes).values(readings.map((q) => ({ ...q, createdAt: now, updatedAt: now })))
        .onConflictDoUpdate({
          target: [quotes.pair, quotes.timestamp],
          set: { updatedAt: sql`excluded.updated_at` },
        })
        .returning()
    );
  }

  latest(pair: string): Promise<StoredQuote | undefined> {
    return guarded(async () => {
      const [row] = await this.db.select().from(quotes).where(eq(quotes.pair, pair))
        .orderBy(desc(quotes.timestamp)).limit(1);
      return row;
    });
  }

  history(pair: string, from: number | undefined, to: number | undefined, limit: number) {
    return guarded(() =>
      this.db.select().from(quotes).where(and(
        eq(quotes.pair, pair),
        from === undefined ? undefined : gte(quotes.timestamp, from),
        to === undefined ? undefined : lte(quotes.timestamp, to),
      )).orderBy(desc(quotes.timestamp)).limit(limit)
    );
  }

  month(pair: string, month: string): Promise<StoredQuote[]> {
    const from = Date.parse(`${month}-01T00:00:00Z`);
    const next = new Date(from);
    next.setUTCMonth(next.getUTCMonth() + 1);
    return guarded(() =>
      this.db.select().from(quotes).where(and(
        eq(quotes.pair, pair),
        gte(quotes.timestamp, from),
        lt(quotes.timestamp, next.getTime()),
      )).orderBy(quotes.timestamp)
    );
  }

  newestUpdate(): Promise<number | null> {
    return guarded(async () => {
      const [row] = await this.db.select({
        at: sql<number | null>`max(${quotes.updatedAt})`.mapWith(Number),
      }).from(quotes);
      return row?.at ?? null;
    });
  }
}

export class PostgresOutboxStore implements OutboxStore {
  constructor(private readonly db: Database) {}

  add(mail: NewMail): Promise<StoredMail> {
    return guarded(async () => {
      const [row] = await this.db.insert(outbox).values(mail).returning();
      return row as StoredMail;
    });
  }

  list(limit: number, offset: number): Promise<{ mails: StoredMail[]; total: number }> {
    return guarded(async () => {
      const [rows, [{ total }]] = await Promise.all([
        this.db.select().from(outbox).orderBy(desc(outbox.createdAt), desc(outbox.id)).limit(limit)
          .offset(offset),
        this.db.select({ total: count() }).from(outbox),
      ]);
      return { mails: rows as StoredMail[], total };
    });
  }
}

/** Revenue rounded to cents as a JS number (round() takes numeric in PostgreSQL). */
const revenue = sql<number>`round(sum(${sales.amount})::numeric, 2)::float8`;

export class PostgresSalesStore implements SalesStore {
  constructor(private readonly db: Database, private readonly pool: pg.Pool) {}

  clearDataset(dataset: string): Promise<void> {
    return guarded(async () => {
      await this.db.delete(sales).where(eq(sales.dataset, dataset));
    });
  }

  insert(rows: Sale[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return guarded(async () => {
      // one array per column: one prepared statement whatever the batch size
      const column = <T>(pick: (sale: Sale) => T) => rows.map(pick);
      await this.pool.query({
        name: "fila_sales_insert",
        text: `INSERT INTO sales (dataset, date, region, product, quantity, unit_price, amount)
          SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[],
            $6::float8[], $7::float8[])`,
        values: [
          column((s) => s.dataset),
          column((s) => s.date),
          column((s) => s.region),
          column((s) => s.product),
          column((s) => s.quantity),
          column((s) => s.unitPrice),
          column((s) => s.amount),
        ],
      });
    });
  }

  regionMonth(region: string, month: string) {
    const where = and(eq(sales.region, region), like(sales.date, `${month}-%`));
    return guarded(async () => {
      const [byDay, byProduct] = await Promise.all([
        this.db.select({
          date: sales.date,
          orders: count(),
          revenue,
          quantity: sql<number>`sum(${sales.quantity})`.mapWith(Number),
        }).from(sales).where(where).groupBy(sales.date).orderBy(sales.date),
        this.db.select({ product: sales.product, orders: count(), revenue })
          .from(sales).where(where).groupBy(sales.product)
          .orderBy(desc(sql`sum(${sales.amount})`)).limit(5),
      ]);
      return { byDay, byProduct };
    });
  }

  byRegion() {
    return guarded(() =>
      this.db.select({ region: sales.region, orders: count(), revenue })
        .from(sales).groupBy(sales.region).orderBy(sales.region)
    );
  }

  coverage(): Promise<{ regions: string[]; months: string[] }> {
    return guarded(async () => {
      const [regions, months] = await Promise.all([
        this.db.selectDistinct({ region: sales.region }).from(sales).orderBy(sales.region),
        this.db.selectDistinct({ month: sql<string>`substr(${sales.date}, 1, 7)` }).from(sales)
          .orderBy(sql`1`),
      ]);
      return { regions: regions.map((r) => r.region), months: months.map((m) => m.month) };
    });
  }
}

export class PostgresScheduleStore implements ScheduleStore {
  constructor(private readonly db: Database) {}

  list(): Promise<Schedule[]> {
    return guarded(() => this.db.select().from(schedules).orderBy(schedules.name));
  }

  get(name: string): Promise<Schedule | undefined> {
    return guarded(async () => {
      const [row] = await this.db.select().from(schedules).where(eq(schedules.name, name)).limit(1);
      return row;
    });
  }

  put(schedule: Omit<Schedule, "lastRunAt" | "lastTaskId">): Promise<Schedule> {
    return guarded(async () => {
      // a replacement keeps created_at and the last run
      const { name: _name, createdAt: _created, ...changes } = schedule;
      const [row] = await this.db.insert(schedules).values(schedule).onConflictDoUpdate({
        target: schedules.name,
        set: changes,
      }).returning();
      return row;
    });
  }

  delete(name: string): Promise<boolean> {
    return guarded(async () =>
      (await this.db.delete(schedules).where(eq(schedules.name, name))
        .returning({ name: schedules.name })).length > 0
    );
  }

  setPaused(name: string, paused: boolean, now: number): Promise<Schedule | undefined> {
    return guarded(async () => {
      const [row] = await this.db.update(schedules).set({ paused, updatedAt: now })
        .where(eq(schedules.name, name)).returning();
      return row;
    });
  }

  markRun(name: string, at: number, taskId: string): Promise<void> {
    return guarded(async () => {
      // a later tick recorded already (another instance ran it) is kept
      await this.db.update(schedules).set({ lastRunAt: at, lastTaskId: taskId }).where(and(
        eq(schedules.name, name),
        or(isNull(schedules.lastRunAt), lte(schedules.lastRunAt, at)),
      ));
    });
  }
}
