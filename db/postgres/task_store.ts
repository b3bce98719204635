/**
 * TaskStore on PostgreSQL, with the semantics of the libSQL store
 * (db/libsql/task_store.ts). History and wake-ups are written by the triggers
 * of migration 0001: each change below sets `note`, the message of its event.
 *
 * The hot path, a turn (submissions, ends of attempts, the claim), is one call
 * of the function `fila_turn` (migration 0002): one round trip and one commit
 * whatever the batch size. Rows travel as arrays (`unnest`), so the statement's
 * text never changes and stays prepared on each connection. Its claim is one
 * `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`: concurrent
 * instances claim disjoint tasks without waiting for each other. The rest goes
 * through named statements and drizzle.
 *
 * Dependencies and per-type limits live in SQL too (migration 0004): the turn
 * stores, releases and cancels dependents and claims within the types' limits;
 * the reads and upkeep around them are in dependencies.ts and limits.ts.
 */
import { and, asc, count, desc, eq, gt, inArray, lt, lte, not, sql } from "drizzle-orm";
// @ts-types="npm:@types/pg@^8.23.1"
import type pg from "pg";
import { CANCELLABLE_STATUSES, WAITING_STATUSES } from "../../tasks/engine/model.ts";
import type { TaskEvent, TaskRecord, TypeLimit } from "../../tasks/engine/model.ts";
import type {
  AttemptEnd,
  AttemptOwner,
  CancelOutcome,
  Inserted,
  NewTask,
  QueueCounts,
  RunningHere,
  StoreHealth,
  TaskFilter,
  TaskLinks,
  TaskStore,
  Turn,
  TurnResult,
  TypeUsage,
} from "../../tasks/engine/store.ts";
import { guarded } from "../store_errors.ts";
import type { Database } from "./connect.ts";
import { runTransaction } from "./transaction.ts";
import { rowMapper } from "../row_mapper.ts";
import { jsonRowMapper } from "./rows.ts";
import { taskDependencies, taskEvents, tasks } from "./schema.ts";
import { dependencyResults, links, resolveAllBlocked } from "./dependencies.ts";
import { setTypeLimit, typeLimits, typeUsage } from "./limits.ts";
import type { PgWakeupChannel } from "./wakeups.ts";

const toTask = rowMapper(tasks);
const fromJson = jsonRowMapper(tasks);
const WAITING_SQL = WAITING_STATUSES.map((status) => `'${status}'`).join(", ");
const CANCELLABLE_SQL = CANCELLABLE_STATUSES.map((status) => `'${status}'`).join(", ");
const FINAL = sql.raw(`'succeeded', 'failed', 'cancelled'`);
/** When an ending task is deleted: `now` + its time to live, or never (null) without one. */
const EXPIRES_AT = (now: string) =>
  `CASE WHEN result_ttl_ms IS NULL THEN NULL ELSE ${now} + result_ttl_ms END`;
/** Fencing condition: this worker ($2) still owns this attempt ($3) of this task ($1). */
const OWNED = `id = $1 AND status = 'running' AND worker_id = $2 AND attempts = $3`;

/** Statements run often enough to stay prepared, by the name they have on each connection. */
const SQL = {
  turn: `SELECT fila_turn(${Array.from({ length: 27 }, (_, i) => `$${i + 1}`).join(", ")}) AS turn`,
  get: `SELECT * FROM tasks WHERE id = $1`,
  existing: `SELECT * FROM tasks WHERE idempotency_key = ANY($1::text[])`,
};

/** What fila_turn answers. */
interface TurnAnswer {
  created: string[] | null;
  ended: string[] | null;
  claimed: Record<string, unknown>[] | null;
}

/** The arguments of fila_turn: one array per column of the submissions and of the ends. */
function turnValues(turn: Turn, now: number): unknown[] {
  const { inserts, ends } = turn;
  const column = <T, R>(rows: T[], pick: (row: T) => R) => rows.map(pick);
  const claim = turn.claim && turn.claim.limit > 0 ? turn.claim : null;
  return [
    column(inserts, (t) => t.id),
    column(inserts, (t) => t.type),
    column(inserts, (t) => t.title),
    column(inserts, (t) => t.description),
    column(inserts, (t) => JSON.stringify(t.payload ?? null)),
    column(inserts, (t) => t.status),
    column(inserts, (t) => t.priority),
    column(inserts, (t) => t.maxAttempts),
    column(inserts, (t) => t.timeoutMs),
    column(inserts, (t) => t.runAt),
    column(inserts, (t) => t.idempotencyKey),
    column(inserts, (t) => t.requestId),
    column(inserts, (t) => t.resultTtlMs),
    column(inserts, (t) => t.createdAt),
    column(inserts, (t) => t.dependsOn.length > 0 ? JSON.stringify(t.dependsOn) : null),
    column(ends, (e) => e.id),
    column(ends, (e) => e.workerId),
    column(ends, (e) => e.attempt),
    column(ends, (e) => e.outcome),
    column(ends, endText),
    column(ends, (e) => e.outcome === "retrying" ? e.retryAt : null),
    column(ends, (e) => e.releasesDependents ?? false),
    now,
    claim?.workerId ?? null,
    claim?.limit ?? 0,
    claim ? now + claim.leaseMs : null,
    JSON.stringify(heldTypes(claim?.limits ?? [])),
  ];
}

/** The limits that hold a type back (paused, or capped), as fila_turn reads them. */
function heldTypes(limits: TypeLimit[]) {
  return limits.filter((l) => l.paused || l.concurrency !== null || l.ratePerMinute !== null)
    .map((l) => ({
      type: l.type,
      concurrency: l.concurrency,
      rate_per_minute: l.ratePerMinute,
      paused: l.paused,
    }));
}

/** The WHERE of a task filter (created_at bounds exclusive). */
function filterWhere(filter: TaskFilter) {
  return and(
    filter.statuses?.length ? inArray(tasks.status, [...filter.statuses]) : undefined,
    filter.type ? eq(tasks.type, filter.type) : undefined,
    filter.priority !== undefined ? eq(tasks.priority, filter.priority) : undefined,
    filter.createdAfter !== undefined ? gt(tasks.createdAt, filter.createdAfter) : undefined,
    filter.createdBefore !== undefined ? lt(tasks.createdAt, filter.createdBefore) : undefined,
  );
}

/** What an end writes: a success's result (JSON text), a failure's error, a cancel's reason. */
function endText(end: AttemptEnd): string {
  switch (end.outcome) {
    case "succeeded":
      return end.result;
    case "retrying":
    case "failed":
      return end.error;
    case "cancelled":
      return end.reason;
  }
}

/** The row a created submission without dependencies became: what was given plus the defaults. */
function storedRow({ dependsOn: _, ...task }: NewTask): TaskRecord {
  return {
    ...task,
    progress: 0,
    progressMessage: null,
    result: null,
    error: null,
    attempts: 0,
    leaseUntil: null,
    workerId: null,
    cancelRequested: false,
    expiresAt: null,
    dependencyCount: 0,
    hasDependents: false,
    updatedAt: task.createdAt,
    startedAt: null,
    finishedAt: null,
  };
}

export class PostgresTaskStore implements TaskStore {
  constructor(
    private readonly db: Database,
    private readonly pool: pg.Pool,
    readonly wakeups: PgWakeupChannel,
  ) {}

  turn(turn: Turn): Promise<TurnResult> {
    const claiming = turn.claim !== null && turn.claim.limit > 0;
    if (turn.inserts.length === 0 && turn.ends.length === 0 && !claiming) {
      return Promise.resolve({ inserted: [], ended: [], claimed: [] });
    }
    return guarded(async () => {
      const { rows: [row] } = await this.pool.query({
        name: "fila_turn",
        text: SQL.turn,
        values: turnValues(turn, Date.now()),
      });
      const answer = JSON.parse(row.turn as string) as TurnAnswer;
      const ended = new Set(answer.ended ?? []);
      return {
        inserted: await this.inserted(turn.inserts, new Set(answer.created ?? [])),
        ended: turn.ends.map((end) => ended.has(end.id)),
        claimed: (answer.claimed ?? []).map(fromJson),
      };
    });
  }

  /** Each submission's task: the stored one, or the existing task its idempotency key matched. */
  private async inserted(rows: NewTask[], created: Set<string>): Promise<Inserted[]> {
    const conflicted = rows.filter((row) => !created.has(row.id));
    const existing = new Map<string, TaskRecord>();
    if (conflicted.length > 0) {
      const { rows: found } = await this.pool.query({
        name: "fila_existing",
        text: SQL.existing,
        values: [conflicted.map((r) => r.idempotencyKey)],
      });
      for (const row of found) existing.set(row.idempotency_key as string, toTask(row));
    }
    // a task with dependencies may have been released or cancelled in the turn: read back
    const waited = new Map<string, TaskRecord>();
    for (const row of rows) {
      if (created.has(row.id) && row.dependsOn.length > 0) {
        const task = await this.get(row.id);
        if (task) waited.set(row.id, task);
      }
    }
    return rows.map((row) => {
      if (created.has(row.id)) return { task: waited.get(row.id) ?? storedRow(row), created: true };
      const task = existing.get(row.idempotencyKey!);
      if (!task) throw new Error(`task with idempotency key vanished: ${row.idempotencyKey}`);
      return { task, created: false };
    });
  }

  get(id: string): Promise<TaskRecord | undefined> {
    return guarded(async () => {
      const { rows: [row] } = await this.pool.query({
        name: "fila_get",
        text: SQL.get,
        values: [id],
      });
      return row ? toTask(row) : undefined;
    });
  }

  list(filter: TaskFilter): Promise<{ tasks: TaskRecord[]; total: number }> {
    return guarded(async () => {
      const where = filterWhere(filter);
      const [rows, [{ total }]] = await Promise.all([
        this.db.select().from(tasks).where(where).orderBy(desc(tasks.id)) // UUIDv7: creation order
          .limit(filter.limit).offset(filter.offset),
        this.db.select({ total: count() }).from(tasks).where(where),
      ]);
      return { tasks: rows, total };
    });
  }

  events(taskId: string, afterId: number): Promise<TaskEvent[]> {
    return guarded(() =>
      this.db.select().from(taskEvents)
        .where(and(eq(taskEvents.taskId, taskId), gt(taskEvents.id, afterId)))
        .orderBy(asc(taskEvents.id))
    );
  }

  progress(owner: AttemptOwner, percent: number, message: string | null): Promise<boolean> {
    return guarded(async () => {
      const { rowCount } = await this.pool.query({
        name: "fila_progress",
        text: `UPDATE tasks SET progress = $4, progress_message = $5, note = $5, updated_at = $6
          WHERE ${OWNED}`,
        values: [owner.id, owner.workerId, owner.attempt, percent, message, Date.now()],
      });
      return (rowCount ?? 0) > 0;
    });
  }

  requestCancel(id: string, reason: string): Promise<CancelOutcome> {
    return guarded(async () => {
      const now = Date.now();
      // One transaction, two statements: the second sees a claim the first waited for (a
      // task that became running meanwhile gets its cancel requested instead).
      const [waiting, running] = await runTransaction(this.pool, [
        {
          name: "fila_cancel_waiting",
          text: `UPDATE tasks SET status = 'cancelled', cancel_requested = true, note = $2,
              finished_at = $3::int8, updated_at = $3::int8, expires_at = ${EXPIRES_AT("$3::int8")}
            WHERE id = $1 AND status IN (${CANCELLABLE_SQL}) RETURNING id`,
          values: [id, reason, now],
        },
        {
          name: "fila_cancel_running",
          text: `UPDATE tasks SET cancel_requested = true, note = 'cancel requested',
              updated_at = $2
            WHERE id = $1 AND status = 'running' AND NOT cancel_requested RETURNING id`,
          values: [id, now],
        },
        // the tasks that waited for it will never run
        {
          name: "fila_cancel_dependents",
          text: `SELECT fila_resolve_dependents(ARRAY[$1::text], $2)`,
          values: [id, now],
        },
      ]);
      if (waiting.length > 0) return "cancelled";
      if (running.length > 0) return "requested";
      const task = await this.get(id);
      if (!task) return "missing";
      return task.status === "running" ? "requested" : "final";
    });
  }

  replay(id: string): Promise<TaskRecord | null> {
    return guarded(async () => {
      const now = Date.now();
      const [row] = await this.db.update(tasks).set({
        status: "queued",
        attempts: 0,
        error: null,
        result: null,
        progress: 0,
        progressMessage: null,
        cancelRequested: false,
        leaseUntil: null,
        workerId: null,
        runAt: now,
        startedAt: null,
        finishedAt: null,
        expiresAt: null,
        note: "retried by request",
        updatedAt: now,
      }).where(and(eq(tasks.id, id), inArray(tasks.status, ["failed", "cancelled"]))).returning();
      return row ?? null;
    });
  }

  renewLeases(workerId: string, ids: string[], leaseUntil: number): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return guarded(async () => {
      await this.pool.query({
        name: "fila_renew",
        text: `UPDATE tasks SET lease_until = $3
          WHERE id = ANY($1::text[]) AND worker_id = $2 AND status = 'running'`,
        values: [ids, workerId, leaseUntil],
      });
    });
  }

  cancelRequested(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return guarded(async () => {
      const { rows } = await this.pool.query({
        name: "fila_cancel_requested",
        text: `SELECT id FROM tasks WHERE id = ANY($1::text[]) AND cancel_requested`,
        values: [ids],
      });
      return rows.map((r) => r.id as string);
    });
  }

  requeueExpired(now: number, runningHere?: RunningHere): Promise<number> {
    return guarded(async () => {
      const lost =
        sql`'lease expired on ' || coalesce(${tasks.workerId}, '?') || ' (instance lost)'`;
      const cancelled = sql`${tasks.cancelRequested}`;
      const last = sql`${tasks.attempts} >= ${tasks.maxAttempts}`;
      const ended = sql`(${cancelled} or ${last})`;
      const rows = await this.db.update(tasks).set({
        // a cancel requested while its instance was dying ends the task here
        status:
          sql`case when ${cancelled} then 'cancelled' when ${last} then 'failed' else 'queued' end`,
        error: sql`case when ${cancelled} then ${tasks.error} else ${lost} end`,
        note: sql`case when ${cancelled} then 'cancelled (its instance was lost)' else ${lost} end`,
        finishedAt: sql`case when ${ended} then ${now}::int8 else null end`,
        expiresAt: sql`case when ${ended} and ${tasks.resultTtlMs} is not null
          then ${now}::int8 + ${tasks.resultTtlMs} else null end`,
        leaseUntil: null,
        runAt: now,
        updatedAt: now,
      }).where(and(
        eq(tasks.status, "running"),
        lte(tasks.leaseUntil, now),
        runningHere && runningHere.ids.length > 0
          ? not(and(eq(tasks.workerId, runningHere.workerId), inArray(tasks.id, runningHere.ids))!)
          : undefined,
      )).returning({ id: tasks.id });
      return rows.length;
    });
  }

  handBack(workerId: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return Promise.resolve(0);
    return guarded(async () => {
      const now = Date.now();
      const rows = await this.db.update(tasks).set({
        status: "queued",
        attempts: sql`greatest(${tasks.attempts} - 1, 0)`,
        leaseUntil: null,
        workerId: null,
        runAt: now,
        note: "handed back at shutdown",
        updatedAt: now,
      }).where(
        and(inArray(tasks.id, ids), eq(tasks.workerId, workerId), eq(tasks.status, "running")),
      ).returning({ id: tasks.id });
      return rows.length;
    });
  }

  hasReady(now: number): Promise<boolean> {
    return guarded(async () => {
      // one probe per priority at the head of tasks_ready_idx, not a walk past scheduled tasks
      const { rows: [row] } = await this.pool.query({
        name: "fila_has_ready",
        text: `SELECT ${
          [0, 1, 2].map((p) =>
            `EXISTS (SELECT 1 FROM tasks WHERE status IN (${WAITING_SQL}) AND priority = ${p}
              AND run_at <= $1)`
          ).join(" OR ")
        } AS ready`,
        values: [now],
      });
      return row.ready === true;
    });
  }

  promoteDue(now: number): Promise<void> {
    return guarded(async () => {
      await this.db.update(tasks).set({ status: "queued", note: "due", updatedAt: now })
        .where(and(eq(tasks.status, "scheduled"), lte(tasks.runAt, now)));
    });
  }

  purgeExpired(now: number, retainedSince: number | null, limit: number): Promise<number> {
    return guarded(async () => {
      // each side on its own partial index: tasks with a TTL, and tasks ended long ago;
      // re-checked in the delete: a task replayed meanwhile is no longer expired
      const expired = sql`${tasks.status} in (${FINAL}) and (${tasks.expiresAt} <= ${now}${
        retainedSince === null ? sql`` : sql` or ${tasks.finishedAt} <= ${retainedSince}`
      })`;
      const { rows: [{ n }] } = await this.db.execute<{ n: number }>(sql`
        with candidates as (
          select id from (select id from tasks where expires_at <= ${now} limit ${limit}) ttl
          ${
        retainedSince === null ? sql`` : sql`union select id from (select id from tasks
            where finished_at <= ${retainedSince} limit ${limit}) old`
      }
          limit ${limit}
        ), doomed as (
          delete from ${tasks} where ${tasks.id} in (select id from candidates) and ${expired}
          returning ${tasks.id}
        ), history as (
          delete from ${taskEvents} where ${taskEvents.taskId} in (select id from doomed)
        ), links as (
          delete from ${taskDependencies} where ${taskDependencies.taskId} in (select id from doomed)
        )
        select count(*)::int as n from doomed`);
      return n;
    });
  }

  counts(since: number, now: number): Promise<QueueCounts> {
    return guarded(async () => {
      // one statement (one connection, one round trip), each part a JSON array of its rows
      const part = (query: string) => `(SELECT coalesce(json_agg(x), '[]') FROM (${query}) x)`;
      const oldest = [0, 1, 2].map((p) =>
        `(SELECT run_at FROM tasks WHERE status IN (${WAITING_SQL}) AND priority = ${p}
          AND run_at <= $2 ORDER BY run_at LIMIT 1)`
      );
      const { rows: [row] } = await this.pool.query({
        name: "fila_counts",
        text: `SELECT
          ${part("SELECT status, count(*)::int AS n FROM tasks GROUP BY status")} AS by_status,
          ${
          part(`SELECT status, priority, count(*)::int AS n FROM tasks
            WHERE status IN (${WAITING_SQL}, 'running') GROUP BY status, priority`)
        } AS active,
          ${part("SELECT type, count(*)::int AS n FROM tasks GROUP BY type")} AS by_type,
          least(${oldest.join(", ")}) AS oldest,
          ${
          part(`SELECT (finished_at / 60000) * 60000 AS minute, status, count(*)::int AS n
            FROM tasks WHERE finished_at >= $1 GROUP BY 1, 2`)
        } AS per_minute,
          ${
          part(`SELECT status, count(*)::int AS n FROM tasks WHERE finished_at >= $2 - 60000
            GROUP BY status`)
        } AS last_minute`,
        values: [since, now],
      });
      return {
        byStatus: JSON.parse(row.by_status),
        activeByPriority: JSON.parse(row.active),
        byType: JSON.parse(row.by_type),
        oldestDueRunAt: row.oldest ?? null,
        finishedPerMinute: JSON.parse(row.per_minute),
        finishedLastMinute: JSON.parse(row.last_minute),
      };
    });
  }

  countByTypeAndStatus(): Promise<{ type: string; status: string; n: number }[]> {
    return guarded(() =>
      this.db.select({ type: tasks.type, status: tasks.status, n: count() }).from(tasks)
        .groupBy(tasks.type, tasks.status).orderBy(tasks.type, tasks.status)
    );
  }

  existing(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return guarded(async () =>
      (await this.db.select({ id: tasks.id }).from(tasks).where(inArray(tasks.id, ids)))
        .map((r) => r.id)
    );
  }

  links(id: string): Promise<TaskLinks> {
    return guarded(() => links(this.db, id));
  }

  dependencyResults(id: string): Promise<Record<string, unknown>> {
    return guarded(() => dependencyResults(this.db, id));
  }

  resolveBlocked(now: number): Promise<number> {
    return guarded(() => resolveAllBlocked(this.db, now));
  }

  typeLimits(): Promise<TypeLimit[]> {
    return guarded(() => typeLimits(this.db));
  }

  setTypeLimit(limit: TypeLimit): Promise<void> {
    return guarded(() => setTypeLimit(this.db, limit));
  }

  typeUsage(now: number): Promise<TypeUsage[]> {
    return guarded(() => typeUsage(this.db, now));
  }

  retryMany(filter: TaskFilter, limit: number): Promise<number> {
    return guarded(async () => {
      const ids = await this.pick({ ...filter, statuses: ["failed"] }, limit);
      let n = 0;
      for (const id of ids) if (await this.replay(id)) n++;
      return n;
    });
  }

  cancelMany(filter: TaskFilter, reason: string, limit: number): Promise<number> {
    return guarded(async () => {
      const statuses = (filter.statuses ?? CANCELLABLE_STATUSES).filter((s) =>
        (CANCELLABLE_STATUSES as readonly string[]).includes(s)
      );
      const ids = await this.pick({ ...filter, statuses }, limit);
      if (ids.length === 0) return 0;
      const now = Date.now();
      // the cancel and what it decides for the tasks that waited for these, in one transaction
      const [cancelled] = await runTransaction(this.pool, [
        {
          name: "fila_cancel_many",
          text: `UPDATE tasks SET status = 'cancelled', cancel_requested = true, note = $2,
              finished_at = $3::int8, updated_at = $3::int8, expires_at = ${EXPIRES_AT("$3::int8")}
            WHERE id = ANY($1::text[]) AND status IN (${CANCELLABLE_SQL}) RETURNING id`,
          values: [ids, reason, now],
        },
        {
          name: "fila_cancel_many_dependents",
          text: `SELECT fila_resolve_dependents($1::text[], $2)`,
          values: [ids, now],
        },
      ]);
      return cancelled.length;
    });
  }

  /** Up to `limit` ids matching `filter`, oldest first. */
  private async pick(filter: TaskFilter, limit: number): Promise<string[]> {
    if (filter.statuses?.length === 0) return [];
    const rows = await this.db.select({ id: tasks.id }).from(tasks).where(filterWhere(filter))
      .orderBy(asc(tasks.id)).limit(limit);
    return rows.map((r) => r.id);
  }

  async health(): Promise<StoreHealth> {
    // a primary that accepts writes: not a standby, not read-only
    const { rows: [row] } = await this.pool.query(
      `SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') AS read_only`,
    );
    const canWrite = row.standby === false && row.read_only === "off";
    // whether this instance hears wake-ups now ("off" where nothing listens: an api-only one)
    const wakeups = this.wakeups.state;
    return canWrite ? { ok: true, can_write: true, wakeups } : {
      ok: false,
      can_write: false,
      wakeups,
      error: "the database accepts no writes (standby or read-only)",
    };
  }
}
