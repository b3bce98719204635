/**
 * The statements behind task dependencies on libSQL: storing a new task's
 * dependencies, and resolving `blocked` tasks -- released when every task they
 * wait for succeeded, cancelled (with the failed one named) when one failed or
 * was cancelled, transitively. They run inside the transaction of the change
 * that decides them (a submit, an attempt's end, a cancel); the sweeper runs
 * the same resolution over every blocked task as a safety net.
 */
import { type SQL, sql } from "drizzle-orm";
import type { InArgs, InStatement } from "@libsql/client";
import type { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";

/** A raw statement for the client's batch, through drizzle's dialect. */
function toStatement(dialect: SQLiteAsyncDialect, query: SQL): InStatement {
  const { sql: text, params } = dialect.sqlToQuery(query);
  return { sql: text, args: params as InArgs };
}

/** When an ending task is deleted: `now` + its time to live, or never (null) without one. */
const EXPIRES = (now: number) =>
  sql`case when result_ttl_ms is null then null else ${now} + result_ttl_ms end`;

/**
 * Stores that `taskId` waits for `parents` and marks the parents, only if the
 * task row was inserted by this transaction's insert (an idempotent replay
 * inserted nothing and adds nothing).
 */
export function storeDependencies(
  dialect: SQLiteAsyncDialect,
  taskId: string,
  parents: string[],
): InStatement[] {
  const list = JSON.stringify(parents);
  const mine = sql`exists (select 1 from tasks where id = ${taskId} and dependency_count > 0)`;
  return [
    toStatement(
      dialect,
      sql`insert or ignore into task_dependencies (task_id, depends_on_id)
        select ${taskId}, value from json_each(${list}) where ${mine}`,
    ),
    toStatement(
      dialect,
      sql`update tasks set has_dependents = 1
        where id in (select value from json_each(${list})) and has_dependents = 0 and ${mine}`,
    ),
  ];
}

/**
 * Resolves the blocked tasks that wait on `roots` (task ids as a SQL list
 * expression): first cancels every blocked task downstream of a root that
 * failed or was cancelled, then releases those whose dependencies all succeeded.
 */
export function resolveDependents(
  dialect: SQLiteAsyncDialect,
  roots: SQL,
  now: number,
): InStatement[] {
  return [
    toStatement(
      dialect,
      sql`with recursive down(id, root) as (
          select d.task_id, d.depends_on_id from task_dependencies d
            join tasks p on p.id = d.depends_on_id
            where d.depends_on_id in (${roots}) and p.status in ('failed', 'cancelled')
          union
          select d.task_id, down.root from task_dependencies d join down on d.depends_on_id = down.id
        )
        update tasks set
          status = 'cancelled',
          cancel_requested = 1,
          error = 'dependency ' || (select root from down where down.id = tasks.id limit 1) ||
            ' did not succeed (' || (select p.status from tasks p
              where p.id = (select root from down where down.id = tasks.id limit 1)) || ')',
          note = 'cancelled: dependency ' || (select root from down where down.id = tasks.id limit 1) ||
            ' did not succeed',
          finished_at = ${now},
          updated_at = ${now},
          expires_at = ${EXPIRES(now)}
        where status = 'blocked' and id in (select id from down)`,
    ),
    toStatement(
      dialect,
      sql`update tasks set
          status = case when run_at > ${now} then 'scheduled' else 'queued' end,
          run_at = max(run_at, ${now}),
          note = 'dependencies succeeded',
          updated_at = ${now}
        where status = 'blocked'
          and id in (select task_id from task_dependencies where depends_on_id in (${roots}))
          and not exists (
            select 1 from task_dependencies d join tasks p on p.id = d.depends_on_id
            where d.task_id = tasks.id and p.status <> 'succeeded')`,
    ),
  ];
}

/** The safety net: resolves every blocked task (roots: all the tasks they wait for). */
export function resolveAllBlocked(dialect: SQLiteAsyncDialect, now: number): InStatement[] {
  return resolveDependents(
    dialect,
    sql`select d.depends_on_id from task_dependencies d
      join tasks c on c.id = d.task_id where c.status = 'blocked'`,
    now,
  );
}

/** Ids as a SQL list expression (bound values). */
export function idList(ids: string[]): SQL {
  return sql.join(ids.map((id) => sql`${id}`), sql`, `);
}
