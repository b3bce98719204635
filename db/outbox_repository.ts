/** The outbox: mail kept in the database when no SMTP server is configured. */
import { count, desc } from "drizzle-orm";
import type { Database } from "./client.ts";
import { outbox, type OutboxRow } from "./schema.ts";

export type NewOutboxMail = typeof outbox.$inferInsert;

export class OutboxRepository {
  constructor(private readonly db: Database) {}

  async add(mail: NewOutboxMail): Promise<OutboxRow> {
    const [row] = await this.db.insert(outbox).values(mail).returning();
    return row;
  }

  /** Newest first, with the total. */
  async list(limit: number, offset: number): Promise<{ rows: OutboxRow[]; total: number }> {
    const [rows, [{ total }]] = await Promise.all([
      this.db.select().from(outbox).orderBy(desc(outbox.createdAt), desc(outbox.id)).limit(limit)
        .offset(offset),
      this.db.select({ total: count() }).from(outbox),
    ]);
    return { rows, total };
  }
}
