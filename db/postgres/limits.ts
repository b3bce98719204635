/**
 * Cluster-wide limits of task types on PostgreSQL: stored here, applied in the
 * claim of fila_turn (migration 0004), which counts running tasks and the
 * starts of the last minute (type_starts) under a per-type advisory lock.
 */
import { count, eq, gt, lte } from "drizzle-orm";
import type { TypeLimit } from "../../tasks/engine/model.ts";
import type { TypeUsage } from "../../tasks/engine/store.ts";
import { typeUsageOf } from "../type_usage.ts";
import type { Database } from "./connect.ts";
import { tasks, typeLimits as limits, typeStarts } from "./schema.ts";

export function typeLimits(db: Database): Promise<TypeLimit[]> {
  return db.select().from(limits).orderBy(limits.type);
}

/** Creates or replaces a type's limits; starts older than the window are dropped meanwhile. */
export async function setTypeLimit(db: Database, limit: TypeLimit): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(limits).values(limit).onConflictDoUpdate({
      target: limits.type,
      set: {
        concurrency: limit.concurrency,
        ratePerMinute: limit.ratePerMinute,
        paused: limit.paused,
        updatedAt: limit.updatedAt,
      },
    });
    // starts older than the window never count again
    await tx.delete(typeStarts).where(lte(typeStarts.at, limit.updatedAt - 60_000));
  });
}

/** Running tasks and starts in the minute before `now`, per type that has either. */
export async function typeUsage(db: Database, now: number): Promise<TypeUsage[]> {
  const [running, started] = await Promise.all([
    db.select({ type: tasks.type, n: count() }).from(tasks)
      .where(eq(tasks.status, "running")).groupBy(tasks.type),
    db.select({ type: typeStarts.type, n: count() }).from(typeStarts)
      .where(gt(typeStarts.at, now - 60_000)).groupBy(typeStarts.type),
  ]);
  return typeUsageOf(running, started);
}
