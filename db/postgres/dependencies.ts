/**
 * Task dependencies on PostgreSQL, beside the turn: a task's neighbours, the
 * results it is given, and the sweeper's safety net. Storing, releasing and
 * cancelling dependents happen inside the transactions that decide them, in the
 * SQL function fila_resolve_dependents (migration 0004), as libSQL does them in
 * db/libsql/dependencies.ts.
 */
import { eq, sql } from "drizzle-orm";
import type { TaskLinks } from "../../tasks/engine/store.ts";
import type { Database } from "./connect.ts";
import { taskDependencies, tasks } from "./schema.ts";

/** The tasks `id` waits for and the tasks that wait for it, each by id. */
export async function links(db: Database, id: string): Promise<TaskLinks> {
  const [dependsOn, dependents] = await Promise.all([
    db.select({ id: tasks.id, status: tasks.status }).from(taskDependencies)
      .innerJoin(tasks, eq(tasks.id, taskDependencies.dependsOnId))
      .where(eq(taskDependencies.taskId, id)).orderBy(tasks.id),
    db.select({ id: tasks.id, status: tasks.status }).from(taskDependencies)
      .innerJoin(tasks, eq(tasks.id, taskDependencies.taskId))
      .where(eq(taskDependencies.dependsOnId, id)).orderBy(tasks.id),
  ]);
  return { dependsOn, dependents };
}

/** The results of the tasks `id` waits for, by id (null for one without a result). */
export async function dependencyResults(
  db: Database,
  id: string,
): Promise<Record<string, unknown>> {
  const rows = await db.select({ id: tasks.id, result: tasks.result }).from(taskDependencies)
    .innerJoin(tasks, eq(tasks.id, taskDependencies.dependsOnId))
    .where(eq(taskDependencies.taskId, id));
  return Object.fromEntries(rows.map((r) => [r.id, r.result ?? null]));
}

/**
 * Resolves every blocked task (the roots: all the tasks they wait for) in one
 * statement, so one transaction; returns how many moved. Most sweeps find no
 * blocked task and stop at the first probe.
 */
export async function resolveAllBlocked(db: Database, now: number): Promise<number> {
  const [any] = await db.select({ id: tasks.id }).from(tasks)
    .where(eq(tasks.status, "blocked")).limit(1);
  if (!any) return 0;
  const { rows: [{ n }] } = await db.execute<{ n: number }>(sql`select fila_resolve_dependents(
      array(select distinct d.depends_on_id from task_dependencies d
        join tasks c on c.id = d.task_id where c.status = 'blocked'),
      ${now}::int8) as n`);
  return n;
}
