/** Aggregate reads behind /queue/stats and /metrics. */
import { and, count, gte, inArray, isNotNull, min, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { tasks } from "./schema.ts";
import { WAITING_STATUSES } from "../tasks/engine/model.ts";

export class StatsRepository {
  constructor(private readonly db: Database) {}

  /** Task counts by (status, priority) and by type. */
  async counts() {
    const [byStatusPriority, byType] = await Promise.all([
      this.db.select({ status: tasks.status, priority: tasks.priority, n: count() }).from(tasks)
        .groupBy(tasks.status, tasks.priority),
      this.db.select({ type: tasks.type, n: count() }).from(tasks).groupBy(tasks.type),
    ]);
    return { byStatusPriority, byType };
  }

  /** The run_at of the task that has waited longest while due (epoch ms), or null. */
  async oldestWaiting(now = Date.now()): Promise<number | null> {
    const [row] = await this.db.select({ at: min(tasks.runAt) }).from(tasks)
      .where(and(inArray(tasks.status, [...WAITING_STATUSES]), sql`${tasks.runAt} <= ${now}`));
    return row?.at ?? null;
  }

  /** Finished tasks per minute and outcome since `since` (epoch ms). */
  finishedPerMinute(since: number) {
    return this.db.select({
      minute: sql<number>`(${tasks.finishedAt} / 60000) * 60000`.as("minute"),
      status: tasks.status,
      n: count(),
    }).from(tasks).where(and(isNotNull(tasks.finishedAt), gte(tasks.finishedAt, since)))
      .groupBy(sql`minute`, tasks.status);
  }
}
