/**
 * Every read and write of `tasks` and `task_events`. Each state change is its own
 * small function, and each write that follows a claim is fenced on
 * (worker_id, attempts, status = 'running'): a worker whose lease expired and whose
 * task was claimed again elsewhere can no longer touch it.
 */
import {
  and,
  asc,
  count,
  desc,
  eq,
  getTableColumns,
  gt,
  inArray,
  lte,
  type SQL,
  sql,
} from "drizzle-orm";
import type { Client, InStatement } from "@libsql/client";
import type { Database } from "./client.ts";
import { compile, rowMapper } from "./compiled.ts";
import { taskEvents, type TaskRow, tasks } from "./schema.ts";
import { WAITING_STATUSES } from "../tasks/engine/model.ts";

export type NewTaskRow = typeof tasks.$inferInsert;

export interface Completion {
  id: string;
  workerId: string;
  attempt: number;
  result: unknown;
}

/** A stored submission: the new row, or the existing one its idempotency key matched. */
export interface Inserted {
  row: TaskRow;
  created: boolean;
}

/** What one transaction of an instance's turn does; see TasksRepository.turn. */
export interface Turn {
  inserts?: NewTaskRow[];
  completions?: Completion[];
  claim?: { workerId: string; limit: number; leaseMs: number };
}

export interface TurnResult {
  inserted: Inserted[];
  written: boolean[];
  claimed: TaskRow[];
}

export interface TaskFilter {
  status?: string;
  type?: string;
  priority?: number;
  limit: number;
  offset: number;
}

/** The waiting statuses as SQL literals, as the partial index `tasks_ready_idx` names them. */
const WAITING_SQL = sql.raw(WAITING_STATUSES.map((status) => `'${status}'`).join(", "));

/** Fencing condition: this worker still owns this attempt of this task (values or placeholders). */
function owned(id: string | SQL, workerId: string | SQL, attempt: number | SQL) {
  return and(
    eq(tasks.id, id),
    eq(tasks.status, "running"),
    eq(tasks.workerId, workerId),
    eq(tasks.attempts, attempt),
  );
}

const toTaskRow = rowMapper(tasks);
/** A value bound when the compiled statement runs (as SQL, which `set` accepts). */
const placeholder = (name: string) => sql`${sql.placeholder(name)}`;

/** Every column of a new row, with the schema's defaults for those not given. */
const INSERT_DEFAULTS: Record<string, unknown> = Object.fromEntries(
  Object.entries(getTableColumns(tasks)).map(([key, column]) => [key, column.default ?? null]),
);

/** The hot statements (submit, claim, finish), compiled once by drizzle. */
function compileHotStatements(db: Database) {
  return {
    insert: compile<Record<string, unknown>>(
      db.insert(tasks)
        // Placeholders wrapped by insert keep the column's encoder (payload → JSON)
        .values(
          Object.fromEntries(
            Object.keys(INSERT_DEFAULTS).map((k) => [k, sql.placeholder(k)]),
          ) as unknown as NewTaskRow,
        )
        // no RETURNING: the stored row is the one given (with the defaults)
        .onConflictDoNothing({ target: tasks.idempotencyKey }),
    ),
    claim: compile<{ now: number; leaseUntil: number; workerId: string; limit: number }>(
      db.update(tasks).set({
        status: "running",
        attempts: sql`${tasks.attempts} + 1`,
        leaseUntil: placeholder("leaseUntil"),
        workerId: placeholder("workerId"),
        startedAt: placeholder("now"),
        updatedAt: placeholder("now"),
        progress: 0,
        progressMessage: null,
      }).where(and(
        // The index is named and the statuses are literals: with bound statuses
        // SQLite cannot use the partial index and sorted every waiting task per claim.
        sql`${tasks.id} in (select id from tasks indexed by tasks_ready_idx
          where status in (${WAITING_SQL}) and run_at <= ${placeholder("now")}
          order by priority, run_at limit ${placeholder("limit")})`,
        // `+` keeps SQLite on the primary key instead of the status index
        sql`+${tasks.status} in (${WAITING_SQL})`,
        eq(tasks.cancelRequested, false),
      )).returning(),
    ),
    succeed: compile<
      { id: string; workerId: string; attempt: number; now: number; result: string }
    >(
      db.update(tasks).set({
        status: "succeeded",
        result: placeholder("result"), // JSON text
        error: null,
        progress: 100,
        leaseUntil: null,
        finishedAt: placeholder("now"),
        updatedAt: placeholder("now"),
      }).where(owned(placeholder("id"), placeholder("workerId"), placeholder("attempt"))),
    ),
  };
}

export class TasksRepository {
  private readonly client: Client;
  private readonly hot: ReturnType<typeof compileHotStatements>;

  constructor(private readonly db: Database) {
    this.client = db.$client;
    this.hot = compileHotStatements(db);
  }

  private event(
    taskId: string,
    at: number,
    status: string,
    progress: number | null,
    message?: string | null,
  ) {
    return this.db.insert(taskEvents).values({
      taskId,
      at,
      status,
      progress,
      message: message ?? null,
    });
  }

  /**
   * An event for task `id` written only if the change made in the same batch took
   * effect (the row now has `status` and was updated at `now`).
   */
  private eventIfChanged(id: string, now: number, status: string, message: string | null) {
    return this.db.run(sql`
      INSERT INTO task_events (task_id, at, status, progress, message)
      SELECT id, ${now}, status, progress, ${message} FROM tasks
      WHERE id = ${id} AND status = ${status} AND updated_at = ${now}`);
  }

  /**
   * Inserts tasks and their first event in one transaction. A row whose
   * idempotency key exists already is not inserted; the existing task is returned
   * in its place with `created: false`.
   */
  async insertMany(rows: NewTaskRow[]): Promise<Inserted[]> {
    return (await this.turn({ inserts: rows })).inserted;
  }

  async get(id: string): Promise<TaskRow | undefined> {
    const [row] = await this.db.select().from(tasks).where(eq(tasks.id, id)).limit(1);
    return row;
  }

  async getByIdempotencyKey(key: string): Promise<TaskRow | undefined> {
    const [row] = await this.db.select().from(tasks).where(eq(tasks.idempotencyKey, key)).limit(1);
    return row;
  }

  /** Newest first, with the total that matches the filter. */
  async list(filter: TaskFilter): Promise<{ rows: TaskRow[]; total: number }> {
    const where = and(
      filter.status ? eq(tasks.status, filter.status) : undefined,
      filter.type ? eq(tasks.type, filter.type) : undefined,
      filter.priority !== undefined ? eq(tasks.priority, filter.priority) : undefined,
    );
    const [rows, [{ total }]] = await Promise.all([
      this.db.select().from(tasks).where(where).orderBy(desc(tasks.id)) // UUIDv7: creation order
        .limit(filter.limit).offset(filter.offset),
      this.db.select({ total: count() }).from(tasks).where(where),
    ]);
    return { rows, total };
  }

  /**
   * One transaction for a turn of an instance: inserts new tasks (as insertMany),
   * finishes `completions` as `succeeded` (per item false when the attempt was no
   * longer ours), then claims up to `limit` ready tasks, highest priority first, in
   * one conditional UPDATE (a task is claimed by exactly one worker, whatever the
   * messages say): a task submitted while a slot is free is claimed in the
   * transaction that stores it. Triggers write the history of all three.
   */
  async turn(turn: Turn): Promise<TurnResult> {
    const inserts = turn.inserts ?? [];
    const completions = turn.completions ?? [];
    const claim = turn.claim && turn.claim.limit > 0 ? turn.claim : null;
    const now = Date.now();
    const statements: InStatement[] = [];
    // the history of these three changes is written by triggers (see the migrations):
    // tasks_submitted, tasks_succeeded and tasks_attempt_started
    const full = inserts.map((row) => ({ ...INSERT_DEFAULTS, ...row }) as TaskRow);
    for (const row of full) statements.push(this.hot.insert(row as Record<string, unknown>));
    for (const done of completions) {
      const result = JSON.stringify(done.result ?? null);
      statements.push(this.hot.succeed({ ...done, now, result }));
    }
    if (claim) {
      // the start event of each attempt is written by the trigger tasks_attempt_started
      const { workerId, limit, leaseMs } = claim;
      statements.push(this.hot.claim({ now, leaseUntil: now + leaseMs, workerId, limit }));
    }
    if (statements.length === 0) return { inserted: [], written: [], claimed: [] };
    const results = await this.client.batch(statements, "write");
    const inserted: Inserted[] = [];
    for (let i = 0; i < inserts.length; i++) {
      if (results[i].rowsAffected > 0) inserted.push({ row: full[i], created: true });
      else {
        const existing = await this.getByIdempotencyKey(inserts[i].idempotencyKey!);
        if (!existing) {
          throw new Error(`task with idempotency key vanished: ${inserts[i].idempotencyKey}`);
        }
        inserted.push({ row: existing, created: false });
      }
    }
    const offset = inserts.length;
    return {
      inserted,
      written: completions.map((_, i) => results[offset + i].rowsAffected > 0),
      claimed: claim ? results[offset + completions.length].rows.map(toTaskRow) : [],
    };
  }

  /** The earliest run_at among waiting tasks, or null when none wait. */
  async nextRunAt(): Promise<number | null> {
    const [row] = await this.db.select({ at: sql<number | null>`min(${tasks.runAt})` }).from(tasks)
      .where(inArray(tasks.status, [...WAITING_STATUSES]));
    return row?.at ?? null;
  }

  /**
   * Ends a failed attempt: `retrying` at `retryAt`, or `failed` when `retryAt` is
   * null (the dead-letter state). Returns false when the attempt was no longer ours.
   */
  async failAttempt(
    id: string,
    workerId: string,
    attempt: number,
    error: string,
    retryAt: number | null,
  ): Promise<boolean> {
    const now = Date.now();
    const status = retryAt === null ? "failed" : "retrying";
    const [updated] = await this.db.batch([
      this.db.update(tasks).set({
        status,
        error,
        runAt: retryAt ?? sql`${tasks.runAt}`,
        leaseUntil: null,
        workerId: retryAt === null ? sql`${tasks.workerId}` : null,
        finishedAt: retryAt === null ? now : null,
        updatedAt: now,
      }).where(owned(id, workerId, attempt)).returning({ id: tasks.id }),
      this.eventIfChanged(id, now, status, error),
    ]);
    return updated.length > 0;
  }

  /** Ends a running attempt as `cancelled` after its signal aborted. */
  async finishCancelled(id: string, workerId: string, attempt: number): Promise<boolean> {
    const now = Date.now();
    const [updated] = await this.db.batch([
      this.db.update(tasks).set({
        status: "cancelled",
        leaseUntil: null,
        finishedAt: now,
        updatedAt: now,
      }).where(owned(id, workerId, attempt)).returning({ id: tasks.id }),
      this.eventIfChanged(id, now, "cancelled", "stopped while running"),
    ]);
    return updated.length > 0;
  }

  /** Stores progress of a running attempt; fenced like every post-claim write. */
  async progress(
    id: string,
    workerId: string,
    attempt: number,
    pct: number,
    message: string | null,
  ): Promise<boolean> {
    const now = Date.now();
    const updated = await this.db.update(tasks).set({
      progress: pct,
      progressMessage: message,
      updatedAt: now,
    }).where(owned(id, workerId, attempt)).returning({ id: tasks.id });
    if (updated.length > 0) await this.event(id, now, "running", pct, message);
    return updated.length > 0;
  }

  /**
   * Cancels a task. A waiting task becomes `cancelled` at once; a running one is
   * marked `cancel_requested` and its worker aborts it.
   */
  async requestCancel(id: string): Promise<"cancelled" | "requested" | "final" | "missing"> {
    const now = Date.now();
    const [waiting] = await this.db.batch([
      this.db.update(tasks).set({
        status: "cancelled",
        cancelRequested: true,
        finishedAt: now,
        updatedAt: now,
      }).where(and(eq(tasks.id, id), inArray(tasks.status, [...WAITING_STATUSES]))).returning({
        id: tasks.id,
      }),
      this.eventIfChanged(id, now, "cancelled", "cancelled before it ran"),
    ]);
    if (waiting.length > 0) return "cancelled";
    const running = await this.db.update(tasks).set({ cancelRequested: true, updatedAt: now })
      .where(and(eq(tasks.id, id), eq(tasks.status, "running"))).returning({ id: tasks.id });
    if (running.length > 0) return "requested";
    return (await this.get(id)) ? "final" : "missing";
  }

  /** Replays a `failed` or `cancelled` task from scratch. Returns the row, or null if not allowed. */
  async replay(id: string): Promise<TaskRow | null> {
    const now = Date.now();
    const [rows] = await this.db.batch([
      this.db.update(tasks).set({
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
        updatedAt: now,
      }).where(and(eq(tasks.id, id), inArray(tasks.status, ["failed", "cancelled"]))).returning(),
      this.eventIfChanged(id, now, "queued", "retried by request"),
    ]);
    return rows[0] ?? null;
  }

  /** Heartbeat: extends the lease of this worker's running tasks. */
  async renewLeases(workerId: string, ids: string[], leaseUntil: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.update(tasks).set({ leaseUntil }).where(and(
      inArray(tasks.id, ids),
      eq(tasks.workerId, workerId),
      eq(tasks.status, "running"),
    ));
  }

  /** Of these running tasks, those whose cancel was requested (possibly via another instance). */
  async cancelRequested(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.select({ id: tasks.id }).from(tasks).where(and(
      inArray(tasks.id, ids),
      eq(tasks.cancelRequested, true),
    ));
    return rows.map((r) => r.id);
  }

  /**
   * Sweeper: running tasks whose lease expired (their instance died) go back to
   * `queued`, or to `failed` when that was their last attempt.
   */
  async requeueExpired(now = Date.now()): Promise<number> {
    const expired = and(eq(tasks.status, "running"), lte(tasks.leaseUntil, now));
    const lost = sql`'lease expired on ' || coalesce(${tasks.workerId}, '?') || ' (instance lost)'`;
    const results = await this.db.batch([
      this.db.update(tasks).set({
        status:
          sql`case when ${tasks.attempts} >= ${tasks.maxAttempts} then 'failed' else 'queued' end`,
        error: lost,
        leaseUntil: null,
        finishedAt:
          sql`case when ${tasks.attempts} >= ${tasks.maxAttempts} then ${now} else null end`,
        runAt: now,
        updatedAt: now,
      }).where(expired).returning({ id: tasks.id, status: tasks.status, error: tasks.error }),
    ]);
    const rows = results[0];
    if (rows.length > 0) {
      await this.db.insert(taskEvents).values(
        rows.map((r) => ({
          taskId: r.id,
          at: now,
          status: r.status,
          progress: null,
          message: r.error,
        })),
      );
    }
    return rows.length;
  }

  /**
   * Shutdown: hands this worker's running tasks back to `queued`, undoing the
   * attempt they could not finish.
   */
  async handBack(workerId: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const now = Date.now();
    const rows = await this.db.update(tasks).set({
      status: "queued",
      attempts: sql`max(${tasks.attempts} - 1, 0)`,
      leaseUntil: null,
      workerId: null,
      runAt: now,
      updatedAt: now,
    }).where(and(inArray(tasks.id, ids), eq(tasks.workerId, workerId), eq(tasks.status, "running")))
      .returning({ id: tasks.id });
    if (rows.length > 0) {
      await this.db.insert(taskEvents).values(
        rows.map((r) => ({
          taskId: r.id,
          at: now,
          status: "queued",
          progress: 0,
          message: "handed back at shutdown",
        })),
      );
    }
    return rows.length;
  }

  /** The most recently updated task of a type (e.g. the last quote refresh). */
  async latestOfType(type: string): Promise<TaskRow | undefined> {
    const [row] = await this.db.select().from(tasks).where(eq(tasks.type, type))
      .orderBy(desc(tasks.updatedAt)).limit(1);
    return row;
  }

  /** How many tasks there are of each (type, status). */
  countsByTypeAndStatus() {
    return this.db.select({ type: tasks.type, status: tasks.status, count: count() }).from(tasks)
      .groupBy(tasks.type, tasks.status).orderBy(tasks.type, tasks.status);
  }

  /** Whether any waiting task is due now. */
  async hasReady(now = Date.now()): Promise<boolean> {
    const [row] = await this.db.select({ id: tasks.id }).from(tasks)
      .where(and(inArray(tasks.status, [...WAITING_STATUSES]), lte(tasks.runAt, now))).limit(1);
    return row !== undefined;
  }

  /** Scheduled tasks whose time has come are shown as `queued` (cosmetic; claims accept both). */
  async promoteDue(now = Date.now()): Promise<void> {
    await this.db.update(tasks).set({ status: "queued", updatedAt: now })
      .where(and(eq(tasks.status, "scheduled"), lte(tasks.runAt, now)));
  }

  /** Retention: deletes finished tasks (and their history) that ended before `before`. */
  async purgeFinished(before: number): Promise<number> {
    const old = and(
      inArray(tasks.status, ["succeeded", "failed", "cancelled"]),
      lte(tasks.finishedAt, before),
    );
    const [, deleted] = await this.db.batch([
      this.db.delete(taskEvents).where(
        inArray(taskEvents.taskId, this.db.select({ id: tasks.id }).from(tasks).where(old)),
      ),
      this.db.delete(tasks).where(old).returning({ id: tasks.id }),
    ]);
    return deleted.length;
  }

  /** The history of a task after event id `afterId`, oldest first. */
  events(taskId: string, afterId = 0) {
    return this.db.select().from(taskEvents)
      .where(and(eq(taskEvents.taskId, taskId), gt(taskEvents.id, afterId)))
      .orderBy(asc(taskEvents.id));
  }
}
