/** Reads and writes of `sales`, the rows loaded from sales files. */
import { and, desc, eq, like, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { sales } from "./schema.ts";

export type NewSale = typeof sales.$inferInsert;

export class SalesRepository {
  constructor(private readonly db: Database) {}

  /** Forgets an earlier load of `dataset` (a file is loaded whole, again). */
  async clearDataset(dataset: string): Promise<void> {
    await this.db.delete(sales).where(eq(sales.dataset, dataset));
  }

  async insert(rows: NewSale[]): Promise<void> {
    if (rows.length > 0) await this.db.insert(sales).values(rows);
  }

  async countDataset(dataset: string): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)` }).from(sales).where(
      eq(sales.dataset, dataset),
    );
    return row.n;
  }

  /** Orders and revenue of a region in a month (YYYY-MM), by day and by product. */
  async regionMonth(region: string, month: string) {
    const where = and(eq(sales.region, region), like(sales.date, `${month}-%`));
    const [byDay, byProduct] = await Promise.all([
      this.db.select({
        date: sales.date,
        orders: sql<number>`count(*)`,
        revenue: sql<number>`round(sum(${sales.amount}), 2)`,
        quantity: sql<number>`sum(${sales.quantity})`,
      }).from(sales).where(where).groupBy(sales.date).orderBy(sales.date),
      this.db.select({
        product: sales.product,
        orders: sql<number>`count(*)`,
        revenue: sql<number>`round(sum(${sales.amount}), 2)`,
      }).from(sales).where(where).groupBy(sales.product).orderBy(desc(sql`sum(${sales.amount})`))
        .limit(5),
    ]);
    return { byDay, byProduct };
  }

  /** Orders and revenue per region, all datasets (for reports). */
  byRegion() {
    return this.db.select({
      region: sales.region,
      orders: sql<number>`count(*)`,
      revenue: sql<number>`round(sum(${sales.amount}), 2)`,
    }).from(sales).groupBy(sales.region).orderBy(sales.region);
  }
}
