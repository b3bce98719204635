/**
 * TaskStore on libSQL: every read and write of `tasks` and `task_events`. The
 * history is written by the triggers of migration 0005 (the rule is in
 * tasks/engine/store.ts): each change below sets `note`, the message of its event.
 */
import {
  and,
  asc,
  count,
  eq,
  gt,
  gte,
  inArray,
  lt,
  lte,
  not,
  notInArray,
  type SQL,
  sql,
} from "drizzle-orm";
import type { InArgs, InStatement, ResultSet } from "@libsql/client";
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
import { rowMapper } from "../row_mapper.ts";
import { typeUsageOf } from "../type_usage.ts";
import { compile } from "./compiled.ts";
import type { Database } from "./connect.ts";
import { idList, resolveAllBlocked, resolveDependents, storeDependencies } from "./dependencies.ts";
import { taskDependencies, taskEvents, tasks, typeLimits, typeStarts } from "./schema.ts";
import type { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";

type TaskRow = typeof tasks.$inferSelect;

/** The waiting statuses as SQL literals, as the partial index `tasks_ready_idx` names them. */
const WAITING_SQL = sql.raw(WAITING_STATUSES.map((status) => `'${status}'`).join(", "));
const CANCELLABLE_SQL = sql.raw(CANCELLABLE_STATUSES.map((status) => `'${status}'`).join(", "));
const FINAL_SQL = sql.raw(`'succeeded', 'failed', 'cancelled'`);
/**
 * The condition of the partial index tasks_status_idx, as written there: a query
 * for other statuses than 'succeeded' says it too, or SQLite cannot use the index
 * (it does not infer it from `status = 'running'`) and reads the whole table.
 */
const NOT_SUCCEEDED = sql.raw(`status <> 'succeeded'`);

/**
 * Tasks in one of `statuses` (Fila's own constants, written into the SQL), said so
 * that SQLite can use the partial indexes: with NOT_SUCCEEDED unless 'succeeded' is
 * one of them, and as literals, which tasks_ready_idx's condition needs.
 */
function inStatus(...statuses: string[]): SQL {
  const inList = sql.raw(`status in (${statuses.map((status) => `'${status}'`).join(", ")})`);
  return statuses.includes("succeeded") ? inList : sql`${inList} and ${NOT_SUCCEEDED}`;
}
/** Newest first / oldest first: rowid is the order tasks were stored, and the order of the indexes' entries. */
const NEWEST_FIRST = sql.raw("rowid desc");
const OLDEST_FIRST = sql.raw("rowid asc");

/**
 * Constants written into a statement's SQL: drizzle binds a plain value as a
 * parameter, once more per call of a hot statement.
 */
const RUNNING = sql`'running'`;
const NULL = sql`null`;

/** Fencing condition: this worker still owns this attempt of this task (values or placeholders). */
function owned(id: string | SQL, workerId: string | SQL, attempt: number | SQL) {
  return and(
    eq(tasks.id, id),
    sql`${tasks.status} = ${RUNNING}`,
    eq(tasks.workerId, workerId),
    eq(tasks.attempts, attempt),
  );
}

/** When an ending task is deleted: `now` + its time to live, or never (null) without one. */
const expiresAt = (now: number | SQL) =>
  sql`case when ${tasks.resultTtlMs} is null then null else ${now} + ${tasks.resultTtlMs} end`;

const toTaskRow = rowMapper(tasks);
const toTypeLimit = rowMapper(typeLimits);

/** A built drizzle query as a statement for the client's batch. */
function statement(query: { toSQL(): { sql: string; params: unknown[] } }): InStatement {
  const { sql, params } = query.toSQL();
  return { sql, args: params as InArgs };
}
/** A value bound when the compiled statement runs (as SQL, which `set` accepts). */
const placeholder = (name: string) => sql`${sql.placeholder(name)}`;

/** The columns a submission sets (the turn's insert binds these, and only these). */
const SUBMITTED_COLUMNS = [
  "id",
  "type",
  "title",
  "description",
  "payload",
  "status",
  "priority",
  "maxAttempts",
  "timeoutMs",
  "runAt",
  "idempotencyKey",
  "requestId",
  "note",
  "resultTtlMs",
  "dependencyCount",
  "createdAt",
  "updatedAt",
] as const;

/**
 * A submission's row as stored: what it sets, and every other column as the
 * schema gives it to a new row (its default, else NULL). Written out, not
 * spread from the schema: this runs once per submitted task.
 */
function newRow(task: NewTask): TaskRow {
  return {
    id: task.id,
    type: task.type,
    title: task.title,
    description: task.description,
    payload: task.payload,
    status: task.dependsOn.length > 0 ? "blocked" : task.status,
    priority: task.priority,
    progress: 0,
    progressMessage: null,
    result: null,
    error: null,
    attempts: 0,
    maxAttempts: task.maxAttempts,
    timeoutMs: task.timeoutMs,
    runAt: task.runAt,
    leaseUntil: null,
    workerId: null,
    idempotencyKey: task.idempotencyKey,
    cancelRequested: false,
    requestId: task.requestId,
    note: "submitted",
    resultTtlMs: task.resultTtlMs,
    expiresAt: null,
    dependencyCount: task.dependsOn.length,
    hasDependents: false,
    createdAt: task.createdAt,
    updatedAt: task.createdAt,
    startedAt: null,
    finishedAt: null,
  };
}

/**
 * The tasks a claim takes: up to `limit` waiting tasks due at `now`, highest
 * priority first, optionally only those matching `extra` (a type's limits).
 */
function claimable(now: number | SQL, limit: number | SQL, extra: SQL = sql`1`) {
  return and(
    // The index is named and the statuses are literals: with bound statuses
    // SQLite cannot use the partial index and sorted every waiting task per claim.
    sql`${tasks.id} in (select id from tasks indexed by tasks_ready_idx
      where status in (${WAITING_SQL}) and run_at <= ${now} and ${extra}
      order by priority, run_at limit ${limit})`,
    // `+` keeps SQLite on the primary key instead of the status index
    sql`+${tasks.status} in (${WAITING_SQL})`,
    sql`${tasks.cancelRequested} = 0`,
  );
}

/** A row read by a claim's query, as its UPDATE left it (what `claimSet` writes). */
function asClaimed(row: TaskRow, now: number, leaseUntil: number, workerId: string): TaskRow {
  // changed in place: the row was just read for this claim and nothing else holds it
  row.status = "running";
  row.attempts += 1;
  row.leaseUntil = leaseUntil;
  row.workerId = workerId;
  row.startedAt = now;
  row.updatedAt = now;
  row.progress = 0;
  row.progressMessage = null;
  row.note = `attempt ${row.attempts} of ${row.maxAttempts} on ${workerId}`;
  return row;
}

/** The positions, in a turn's batch, of a claim's query and its update. */
interface ClaimAt {
  read: number;
  write: number;
}

/** The hot statements (submit, claim, succeed), compiled once by drizzle. */
function compileHotStatements(db: Database) {
  return {
    insert: compile<Record<string, unknown>>(
      db.insert(tasks)
        // Placeholders wrapped by insert keep the column's encoder (payload -> JSON).
        // Only what a submission sets is bound; the rest is written as its default (NULL
        // as a literal): a new task's other 13 columns cost ~3 µs a task to bind.
        .values(
          Object.fromEntries(
            SUBMITTED_COLUMNS.map((k) => [k, sql.placeholder(k)]),
          ) as unknown as typeof tasks.$inferInsert,
        )
        // no RETURNING: the stored row is the one given (with the defaults)
        .onConflictDoNothing({ target: tasks.idempotencyKey }),
    ),
    // The claim is a read and a write of the same condition in one write transaction:
    // a query's rows are read as JSON (LocalClient), and an UPDATE ... RETURNING would be
    // read with the driver's row iterator, which leaks native memory under Deno (#20).
    claimable: compile<{ now: number; limit: number }>(
      db.select().from(tasks).where(claimable(placeholder("now"), placeholder("limit")))
        .orderBy(tasks.priority, tasks.runAt),
    ),
    claim: compile<{ now: number; leaseUntil: number; workerId: string; limit: number }>(
      db.update(tasks).set(
        claimSet(placeholder("now"), placeholder("leaseUntil"), placeholder("workerId")),
      ).where(claimable(placeholder("now"), placeholder("limit"))),
    ),
    succeed: compile<
      { id: string; workerId: string; attempt: number; now: number; result: string }
    >(
      db.update(tasks).set({
        status: sql`'succeeded'`,
        result: placeholder("result"), // JSON text
        error: NULL,
        progress: sql`100`,
        leaseUntil: NULL,
        note: NULL,
        finishedAt: placeholder("now"),
        updatedAt: placeholder("now"),
        expiresAt: expiresAt(placeholder("now")),
      }).where(owned(placeholder("id"), placeholder("workerId"), placeholder("attempt"))),
    ),
  };
}

/**
 * The statements an instance's timers run (the sweeper's pass, the cancel poll, the
 * heartbeat, the limits' refresh), compiled once, as the hot ones are. A timer runs
 * too seldom for V8 to optimize drizzle's query building, so building them on
 * every call ran in its interpreter: a sweep pass (five queries) held a busy
 * instance's turns for 1.3-2.2 ms, 5-6 ms the first time; compiled, 0.6-1.0 ms
 * (3 ms). With the bench's 100 ms sweeps that was a few percent of the drain.
 * A list of ids is bound as one JSON array (`json_each`): one SQL text, and one
 * prepared statement, whatever its length.
 */
function compileTimerStatements(db: Database, dialect: SQLiteAsyncDialect) {
  const raw = (query: SQL) => ({ toSQL: () => dialect.sqlToQuery(query) });
  const now = placeholder("now");
  const lost = sql`'lease expired on ' || coalesce(${tasks.workerId}, '?') || ' (instance lost)'`;
  const cancelled = sql`${tasks.cancelRequested} = 1`;
  const last = sql`${tasks.attempts} >= ${tasks.maxAttempts}`;
  const idIn = (name: string) =>
    sql`${tasks.id} in (select value from json_each(${placeholder(name)}))`;
  return {
    requeueExpired: compile<{ now: number; workerId: string; ids: string }>(
      db.update(tasks).set({
        // a cancel requested while its instance was dying ends the task here
        status:
          sql`case when ${cancelled} then 'cancelled' when ${last} then 'failed' else 'queued' end`,
        error: sql`case when ${cancelled} then ${tasks.error} else ${lost} end`,
        note: sql`case when ${cancelled} then 'cancelled (its instance was lost)' else ${lost} end`,
        finishedAt: sql`case when ${cancelled} or ${last} then ${now} else null end`,
        expiresAt: sql`case when ${cancelled} or ${last} then ${expiresAt(now)} else null end`,
        leaseUntil: NULL,
        runAt: now,
        updatedAt: now,
      }).where(and(
        inStatus("running"),
        sql`${tasks.leaseUntil} <= ${now}`,
        // the tasks running here are this instance's to end, whatever their lease says
        not(and(eq(tasks.workerId, placeholder("workerId")), idIn("ids"))!),
      )),
    ),
    promoteDue: compile<{ now: number }>(
      db.update(tasks).set({ status: sql`'queued'`, note: sql`'due'`, updatedAt: now })
        .where(and(inStatus("scheduled"), sql`${tasks.runAt} <= ${now}`)),
    ),
    hasReady: compile<{ now: number }>(
      db.select({ id: tasks.id }).from(tasks)
        .where(and(inStatus(...WAITING_STATUSES), sql`${tasks.runAt} <= ${now}`)).limit(1),
    ),
    anyBlocked: compile<Record<string, never>>(
      db.select({ id: tasks.id }).from(tasks).where(inStatus("blocked")).limit(1),
    ),
    /**
     * Expired tasks, each side on its own partial index: with a TTL, and ended before
     * `retainedSince` (null when retention is not due: `<= null` matches nothing).
     */
    expired: compile<{ now: number; retainedSince: number | null; limit: number }>(raw(sql`
      select id from (select id from tasks where expires_at <= ${now} limit ${placeholder("limit")})
      union select id from (select id from tasks
        where finished_at <= ${placeholder("retainedSince")} limit ${placeholder("limit")})
      limit ${placeholder("limit")}`)),
    cancelRequested: compile<{ ids: string }>(
      db.select({ id: tasks.id }).from(tasks).where(
        and(idIn("ids"), sql`${tasks.cancelRequested} = 1`),
      ),
    ),
    renewLeases: compile<{ workerId: string; ids: string; leaseUntil: number }>(
      db.update(tasks).set({ leaseUntil: placeholder("leaseUntil") }).where(and(
        idIn("ids"),
        eq(tasks.workerId, placeholder("workerId")),
        // `+`: found by their ids, not among every task running in the cluster (status index)
        sql`+${tasks.status} = ${RUNNING}`,
      )),
    ),
    typeLimits: compile<Record<string, never>>(
      db.select().from(typeLimits).orderBy(typeLimits.type),
    ),
  };
}

/** The WHERE of a task filter (created_at bounds exclusive). */
function filterWhere(filter: TaskFilter) {
  const statuses = filter.statuses?.length ? [...filter.statuses] : null;
  return and(
    statuses ? inArray(tasks.status, statuses) : undefined,
    statuses && !statuses.includes("succeeded") ? NOT_SUCCEEDED : undefined,
    filter.type ? eq(tasks.type, filter.type) : undefined,
    filter.priority !== undefined ? eq(tasks.priority, filter.priority) : undefined,
    filter.createdAfter !== undefined ? gt(tasks.createdAt, filter.createdAfter) : undefined,
    filter.createdBefore !== undefined ? lt(tasks.createdAt, filter.createdBefore) : undefined,
  );
}

/** The set part of cancelling a waiting task, the reason as its note. */
function cancelledSet(now: number, reason: string) {
  return {
    status: "cancelled",
    cancelRequested: true,
    note: reason,
    finishedAt: now,
    updatedAt: now,
    expiresAt: expiresAt(now),
  };
}

/** The set part of a claim: running, one more attempt, its note. */
function claimSet(now: number | SQL, leaseUntil: number | SQL, workerId: string | SQL) {
  return {
    status: RUNNING,
    attempts: sql`${tasks.attempts} + 1`,
    leaseUntil,
    workerId,
    startedAt: now,
    updatedAt: now,
    progress: sql`0`,
    progressMessage: NULL,
    note:
      sql`'attempt ' || (${tasks.attempts} + 1) || ' of ' || ${tasks.maxAttempts} || ' on ' || ${workerId}`,
  };
}

export class LibsqlTaskStore implements TaskStore {
  private readonly hot: ReturnType<typeof compileHotStatements>;
  private readonly timers: ReturnType<typeof compileTimerStatements>;
  private readonly dialect: SQLiteAsyncDialect;

  constructor(
    private readonly db: Database,
    /** Whether a write can take the lock within `ms` (health). */
    private readonly canWrite: (ms: number) => Promise<boolean>,
  ) {
    this.hot = compileHotStatements(db);
    this.dialect = (db as unknown as { dialect: SQLiteAsyncDialect }).dialect;
    this.timers = compileTimerStatements(db, this.dialect);
  }

  /** Runs one compiled statement. */
  private run(statement: InStatement): Promise<ResultSet> {
    return this.db.$client.execute(statement);
  }

  /**
   * The claim within the types' limits: the usual claim over the types without
   * limits, then, per limited type, a claim capped in SQL by what its limits
   * leave (running now, starts in the last minute) and by the slots this turn's
   * claims left. The turn's write lock makes the counts exact across instances.
   */
  private limitedClaim(
    now: number,
    claim: NonNullable<Turn["claim"]>,
  ): { statements: InStatement[]; claims: ClaimAt[] } {
    const { workerId, limit, leaseMs, limits } = claim;
    const leaseUntil = now + leaseMs;
    const held = limits.filter((l) =>
      l.paused || l.concurrency !== null || l.ratePerMinute !== null
    );
    const statements: InStatement[] = [];
    const claims: ClaimAt[] = [];
    // claimed in this turn: this worker, started at this turn's now
    const claimedHere = sql`(select count(*) from tasks where worker_id = ${workerId}
      and started_at = ${now} and ${inStatus("running")})`;
    const limitLeft = (cap: number | SQL) => sql`max(0, min(${cap}, ${limit} - ${claimedHere}))`;
    const pair = (condition: SQL | undefined) => {
      claims.push({ read: statements.length, write: statements.length + 1 });
      statements.push(
        statement(
          this.db.select().from(tasks).where(condition).orderBy(tasks.priority, tasks.runAt),
        ),
        statement(this.db.update(tasks).set(claimSet(now, leaseUntil, workerId)).where(condition)),
      );
    };
    pair(claimable(
      now,
      limitLeft(limit),
      held.length === 0
        ? sql`1`
        : sql`type not in (${sql.join(held.map((l) => sql`${l.type}`), sql`, `)})`,
    ));
    for (const l of held) {
      if (l.paused) continue;
      const caps: SQL[] = [];
      if (l.concurrency !== null) {
        // `+type`: the few running tasks, not every task of the type
        caps.push(sql`${l.concurrency} - (select count(*) from tasks
          where ${inStatus("running")} and +type = ${l.type})`);
      }
      if (l.ratePerMinute !== null) {
        caps.push(sql`${l.ratePerMinute} - (select count(*) from type_starts
          where type = ${l.type} and at > ${now - 60_000})`);
      }
      const cap = sql`min(${sql.join(caps, sql`, `)}, ${limit})`;
      pair(claimable(now, limitLeft(cap), sql`type = ${l.type}`));
      if (l.ratePerMinute !== null) {
        // the starts of this turn's claims of the type count against its rate from now on
        const { sql: text, params } = this.dialect.sqlToQuery(
          sql`insert into type_starts (type, at) select type, ${now} from tasks
            where +type = ${l.type} and worker_id = ${workerId} and started_at = ${now}
              and ${inStatus("running")}`,
        );
        statements.push({ sql: text, args: params as InArgs });
      }
    }
    return { statements, claims };
  }

  turn(turn: Turn): Promise<TurnResult> {
    return guarded(async () => {
      const now = Date.now();
      const statements: InStatement[] = [];
      // (the statements' results are read back by position)
      const full = turn.inserts.map(newRow);
      for (const row of full) statements.push(this.hot.insert(row as Record<string, unknown>));
      const waiting = turn.inserts.filter((t) => t.dependsOn.length > 0);
      for (const task of waiting) {
        statements.push(...storeDependencies(this.dialect, task.id, task.dependsOn));
      }
      if (waiting.length > 0) {
        const parents = idList([...new Set(waiting.flatMap((t) => t.dependsOn))]);
        statements.push(...resolveDependents(this.dialect, parents, now));
      }
      const endsAt = statements.length;
      for (const end of turn.ends) statements.push(this.endStatement(end, now));
      const settled = turn.ends.filter((e) => e.releasesDependents).map((e) => e.id);
      if (settled.length > 0) {
        statements.push(...resolveDependents(this.dialect, idList(settled), now));
      }
      const claim = turn.claim && turn.claim.limit > 0 ? turn.claim : null;
      const claims: ClaimAt[] = [];
      if (claim && claim.limits.length === 0) {
        const { workerId, limit, leaseMs } = claim;
        claims.push({ read: statements.length, write: statements.length + 1 });
        statements.push(
          this.hot.claimable({ now, limit }),
          this.hot.claim({ now, leaseUntil: now + leaseMs, workerId, limit }),
        );
      } else if (claim) {
        const limited = this.limitedClaim(now, claim);
        const offset = statements.length;
        for (const at of limited.claims) {
          claims.push({ read: offset + at.read, write: offset + at.write });
        }
        statements.push(...limited.statements);
      }
      if (statements.length === 0) return { inserted: [], ended: [], claimed: [] };
      const results = await this.db.$client.batch(statements, "write");
      const inserted: Inserted[] = [];
      for (let i = 0; i < full.length; i++) {
        if (results[i].rowsAffected > 0) {
          // a task with dependencies may have been released or cancelled in the transaction
          const task = full[i].dependencyCount > 0 ? await this.get(full[i].id) : full[i];
          inserted.push({ task: task ?? full[i], created: true });
          continue;
        }
        const [existing] = await this.db.select().from(tasks)
          .where(eq(tasks.idempotencyKey, full[i].idempotencyKey!)).limit(1);
        if (!existing) {
          throw new Error(`task with idempotency key vanished: ${full[i].idempotencyKey}`);
        }
        inserted.push({ task: existing, created: false });
      }
      return {
        inserted,
        ended: turn.ends.map((_, i) => results[endsAt + i].rowsAffected > 0),
        claimed: claim ? claims.flatMap((at) => this.claimedRows(results, at, now, claim)) : [],
      };
    });
  }

  /** The rows a claim took, as it left them; its query and update must agree on how many. */
  private claimedRows(
    results: ResultSet[],
    at: ClaimAt,
    now: number,
    claim: NonNullable<Turn["claim"]>,
  ): TaskRow[] {
    const rows = results[at.read].rows.map(toTaskRow);
    const taken = results[at.write].rowsAffected;
    if (taken !== rows.length) {
      // cannot happen in one write transaction; if it did, launching nothing is the safe side
      // (the claimed tasks come back when their lease runs out)
      throw new Error(`a claim read ${rows.length} tasks but took ${taken}`);
    }
    return rows.map((row) => asClaimed(row, now, now + claim.leaseMs, claim.workerId));
  }

  /** The fenced update that records how an attempt ended. */
  private endStatement(end: AttemptEnd, now: number): InStatement {
    // built only for the rarer outcomes: drizzle's condition builders cost ~2 % of a
    // busy instance's time when every success built one it never used
    const fence = () => owned(end.id, end.workerId, end.attempt);
    switch (end.outcome) {
      case "succeeded":
        return this.hot.succeed({ ...end, now, result: end.result });
      case "retrying":
        return statement(
          this.db.update(tasks).set({
            status: "retrying",
            error: end.error,
            note: end.error,
            runAt: end.retryAt,
            leaseUntil: null,
            workerId: null,
            updatedAt: now,
          }).where(fence()),
        );
      case "failed":
        return statement(
          this.db.update(tasks).set({
            status: "failed",
            error: end.error,
            note: end.error,
            leaseUntil: null,
            finishedAt: now,
            updatedAt: now,
            expiresAt: expiresAt(now),
          }).where(fence()),
        );
      case "cancelled":
        return statement(
          this.db.update(tasks).set({
            status: "cancelled",
            note: end.reason,
            leaseUntil: null,
            finishedAt: now,
            updatedAt: now,
            expiresAt: expiresAt(now),
          }).where(fence()),
        );
    }
  }

  get(id: string): Promise<TaskRecord | undefined> {
    return guarded(async () => {
      const [row] = await this.db.select().from(tasks).where(eq(tasks.id, id)).limit(1);
      return row;
    });
  }

  list(filter: TaskFilter): Promise<{ tasks: TaskRecord[]; total: number }> {
    return guarded(async () => {
      const where = filterWhere(filter);
      const [rows, total] = await Promise.all([
        this.db.select().from(tasks).where(where).orderBy(NEWEST_FIRST)
          .limit(filter.limit).offset(filter.offset),
        this.total(filter),
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
      const updated = await this.db.update(tasks).set({
        progress: percent,
        progressMessage: message,
        note: message,
        updatedAt: Date.now(),
      }).where(owned(owner.id, owner.workerId, owner.attempt));
      return updated.rowsAffected > 0;
    });
  }

  requestCancel(id: string, reason: string): Promise<CancelOutcome> {
    return guarded(async () => {
      const now = Date.now();
      // both in one transaction: a task cancelled by the first is no longer running for the second
      const [waiting, running] = await this.db.$client.batch([
        statement(
          this.db.update(tasks).set(cancelledSet(now, reason)).where(
            and(eq(tasks.id, id), sql`${tasks.status} in (${CANCELLABLE_SQL})`),
          ),
        ),
        statement(
          this.db.update(tasks).set({
            cancelRequested: true,
            note: "cancel requested",
            updatedAt: now,
          }).where(
            and(eq(tasks.id, id), eq(tasks.status, "running"), eq(tasks.cancelRequested, false)),
          ),
        ),
        // the tasks that waited for it will never run
        ...resolveDependents(this.dialect, idList([id]), now),
      ], "write");
      if (waiting.rowsAffected > 0) return "cancelled";
      if (running.rowsAffected > 0) return "requested";
      const task = await this.get(id);
      if (!task) return "missing";
      return task.status === "running" ? "requested" : "final";
    });
  }

  replay(id: string): Promise<TaskRecord | null> {
    return guarded(async () => {
      const now = Date.now();
      const replayed = await this.db.update(tasks).set({
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
      }).where(and(eq(tasks.id, id), inArray(tasks.status, ["failed", "cancelled"])));
      // (no RETURNING: see the claim)
      const row = replayed.rowsAffected > 0 ? await this.get(id) : undefined;
      return row ?? null;
    });
  }

  renewLeases(workerId: string, ids: string[], leaseUntil: number): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return guarded(async () => {
      await this.run(this.timers.renewLeases({ workerId, ids: JSON.stringify(ids), leaseUntil }));
    });
  }

  cancelRequested(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return guarded(async () => {
      const { rows } = await this.run(this.timers.cancelRequested({ ids: JSON.stringify(ids) }));
      return rows.map((r) => r.id as string);
    });
  }

  requeueExpired(now: number, runningHere?: RunningHere): Promise<number> {
    return guarded(async () => {
      const moved = await this.run(this.timers.requeueExpired({
        now,
        // no worker is named '' (instance ids are host-pid-suffix): nothing is spared
        workerId: runningHere?.workerId ?? "",
        ids: JSON.stringify(runningHere?.ids ?? []),
      }));
      return moved.rowsAffected;
    });
  }

  handBack(workerId: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return Promise.resolve(0);
    return guarded(async () => {
      const now = Date.now();
      const handed = await this.db.update(tasks).set({
        status: "queued",
        attempts: sql`max(${tasks.attempts} - 1, 0)`,
        leaseUntil: null,
        workerId: null,
        runAt: now,
        note: "handed back at shutdown",
        updatedAt: now,
      }).where(
        and(inArray(tasks.id, ids), eq(tasks.workerId, workerId), eq(tasks.status, "running")),
      );
      return handed.rowsAffected;
    });
  }

  hasReady(now: number): Promise<boolean> {
    return guarded(async () => (await this.run(this.timers.hasReady({ now }))).rows.length > 0);
  }

  promoteDue(now: number): Promise<void> {
    return guarded(async () => {
      await this.run(this.timers.promoteDue({ now }));
    });
  }

  purgeExpired(now: number, retainedSince: number | null, limit: number): Promise<number> {
    return guarded(async () => {
      // each side on its own partial index: tasks with a TTL, and tasks ended long ago
      const found = await this.run(this.timers.expired({ now, retainedSince, limit }));
      const ids = found.rows.map((r) => r.id as string);
      if (ids.length === 0) return 0;
      // re-checked in the delete: a task replayed meanwhile is no longer expired
      const expired = and(
        inArray(tasks.id, ids),
        sql`${tasks.status} in (${FINAL_SQL})`,
        sql`(${tasks.expiresAt} <= ${now}${
          retainedSince === null ? sql`` : sql` or ${tasks.finishedAt} <= ${retainedSince}`
        })`,
      );
      const gone = this.db.select({ id: tasks.id }).from(tasks).where(expired);
      const [, , deleted] = await this.db.batch([
        this.db.delete(taskEvents).where(inArray(taskEvents.taskId, gone)),
        this.db.delete(taskDependencies).where(inArray(taskDependencies.taskId, gone)),
        this.db.delete(tasks).where(expired),
      ]);
      return deleted.rowsAffected;
    });
  }

  /**
   * How many tasks `filter` matches. Succeeded tasks are not in tasks_status_idx, so
   * counting them is counting the rest: all the tasks the other conditions match
   * (an index, or for no condition the smallest one) less those in other statuses
   * (tasks_status_idx), never a read of the whole table.
   */
  private async total(filter: TaskFilter): Promise<number> {
    const statuses = filter.statuses ?? [];
    if (!statuses.includes("succeeded")) {
      const [{ n }] = await this.db.select({ n: count() }).from(tasks).where(filterWhere(filter));
      return n;
    }
    const rest = filterWhere({ ...filter, statuses: undefined });
    const others = statuses.filter((status) => status !== "succeeded");
    const [{ n }] = await this.db.all<{ n: number }>(sql`select
      (select count(*) from tasks where ${rest ?? sql`1`})
      - (select count(*) from tasks where ${NOT_SUCCEEDED} and ${rest ?? sql`1`}
         ${others.length > 0 ? sql`and ${notInArray(tasks.status, others)}` : sql``}) as n`);
    return n;
  }

  /** Tasks per status; succeeded ones as the rest of the whole count (see total), in one read. */
  private async countByStatus(): Promise<{ status: string; n: number }[]> {
    const rows = await this.db.all<{ status: string | null; n: number }>(sql`
      select status, count(*) as n from tasks where ${NOT_SUCCEEDED} group by status
      union all select null, count(*) from tasks`);
    const others = rows.filter((r) => r.status !== null) as { status: string; n: number }[];
    const all = rows.find((r) => r.status === null)?.n ?? 0;
    const succeeded = all - others.reduce((sum, r) => sum + r.n, 0);
    return succeeded > 0 ? [...others, { status: "succeeded", n: succeeded }] : others;
  }

  counts(since: number, now: number): Promise<QueueCounts> {
    return guarded(async () => {
      const [byStatus, activeByPriority, byType, [oldest], perMinute, lastMinute] = await Promise
        .all([
          this.countByStatus(),
          // waiting ones from tasks_ready_idx alone, running ones are few
          this.db.all<{ status: string; priority: number; n: number }>(sql`
            select status, priority, count(*) as n from tasks indexed by tasks_ready_idx
              where status in (${WAITING_SQL}) group by status, priority
            union all
            select status, priority, count(*) as n from tasks
              where ${inStatus("running")} group by status, priority`),
          this.db.select({ type: tasks.type, n: count() }).from(tasks).groupBy(tasks.type),
          // the oldest due task of each priority, read from the head of tasks_ready_idx
          this.db.all<{ at: number | null }>(sql`select min(at) as at from (
            ${
            sql.join(
              [0, 1, 2].map((p) =>
                sql`select (select run_at from tasks indexed by tasks_ready_idx
                  where status in (${WAITING_SQL}) and priority = ${p} and run_at <= ${now}
                  order by run_at limit 1) as at`
              ),
              sql` union all `,
            )
          })`),
          this.finishedPerMinute(since),
          // tasks_finished_idx named: counting by status, SQLite would walk the status index instead
          this.db.all<{ status: string; n: number }>(sql`select status, count(*) as n
            from tasks indexed by tasks_finished_idx where finished_at >= ${now - 60_000}
            group by status`),
        ]);
      return {
        byStatus,
        activeByPriority,
        byType,
        oldestDueRunAt: oldest?.at ?? null,
        finishedPerMinute: perMinute,
        finishedLastMinute: lastMinute,
      };
    });
  }

  /** Ended tasks per minute and status since `since`, from tasks_finished_idx alone. */
  private finishedPerMinute(since: number) {
    return this.db.select({
      minute: sql<number>`(${tasks.finishedAt} / 60000) * 60000`.as("minute"),
      status: tasks.status,
      n: count(),
    }).from(tasks).where(gte(tasks.finishedAt, since)).groupBy(sql`minute`, tasks.status);
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
      (await this.db.select({ id: tasks.id }).from(tasks).where(inArray(tasks.id, ids))).map((r) =>
        r.id
      )
    );
  }

  links(id: string): Promise<TaskLinks> {
    return guarded(async () => {
      const [dependsOn, dependents] = await Promise.all([
        this.db.select({ id: tasks.id, status: tasks.status }).from(taskDependencies)
          .innerJoin(tasks, eq(tasks.id, taskDependencies.dependsOnId))
          .where(eq(taskDependencies.taskId, id)).orderBy(tasks.id),
        this.db.select({ id: tasks.id, status: tasks.status }).from(taskDependencies)
          .innerJoin(tasks, eq(tasks.id, taskDependencies.taskId))
          .where(eq(taskDependencies.dependsOnId, id)).orderBy(tasks.id),
      ]);
      return { dependsOn, dependents };
    });
  }

  dependencyResults(id: string): Promise<Record<string, unknown>> {
    return guarded(async () => {
      const rows = await this.db.select({ id: tasks.id, result: tasks.result }).from(
        taskDependencies,
      )
        .innerJoin(tasks, eq(tasks.id, taskDependencies.dependsOnId))
        .where(eq(taskDependencies.taskId, id));
      return Object.fromEntries(rows.map((r) => [r.id, r.result ?? null]));
    });
  }

  resolveBlocked(now: number): Promise<number> {
    return guarded(async () => {
      if ((await this.run(this.timers.anyBlocked({}))).rows.length === 0) return 0;
      const results = await this.db.$client.batch(resolveAllBlocked(this.dialect, now), "write");
      return results.reduce((n, r) => n + r.rowsAffected, 0);
    });
  }

  typeLimits(): Promise<TypeLimit[]> {
    return guarded(async () =>
      (await this.run(this.timers.typeLimits({}))).rows.map((row) => toTypeLimit(row))
    );
  }

  setTypeLimit(limit: TypeLimit): Promise<void> {
    return guarded(async () => {
      await this.db.batch([
        this.db.insert(typeLimits).values(limit).onConflictDoUpdate({
          target: typeLimits.type,
          set: {
            concurrency: limit.concurrency,
            ratePerMinute: limit.ratePerMinute,
            paused: limit.paused,
            updatedAt: limit.updatedAt,
          },
        }),
        // starts older than the window never count again
        this.db.delete(typeStarts).where(lte(typeStarts.at, limit.updatedAt - 60_000)),
      ]);
    });
  }

  typeUsage(now: number): Promise<TypeUsage[]> {
    return guarded(async () => {
      const [running, started] = await Promise.all([
        this.db.select({ type: tasks.type, n: count() }).from(tasks)
          .where(inStatus("running")).groupBy(tasks.type),
        this.db.select({ type: typeStarts.type, n: count() }).from(typeStarts)
          .where(gt(typeStarts.at, now - 60_000)).groupBy(typeStarts.type),
      ]);
      return typeUsageOf(running, started);
    });
  }

  retryMany(filter: TaskFilter, limit: number): Promise<number> {
    return guarded(async () => {
      const ids = await this.pick({ ...filter, statuses: ["failed"] }, limit);
      if (ids.length === 0) return 0;
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
      const [cancelled] = await this.db.$client.batch([
        statement(
          this.db.update(tasks).set(cancelledSet(now, reason)).where(
            and(inArray(tasks.id, ids), sql`${tasks.status} in (${CANCELLABLE_SQL})`),
          ),
        ),
        ...resolveDependents(this.dialect, idList(ids), now),
      ], "write");
      return cancelled.rowsAffected;
    });
  }

  /** Up to `limit` ids matching `filter`, oldest first. */
  private async pick(filter: TaskFilter, limit: number): Promise<string[]> {
    if (filter.statuses?.length === 0) return [];
    const rows = await this.db.select({ id: tasks.id }).from(tasks).where(filterWhere(filter))
      .orderBy(OLDEST_FIRST).limit(limit);
    return rows.map((r) => r.id);
  }

  async health(): Promise<StoreHealth> {
    await this.db.select({ id: tasks.id }).from(tasks).limit(1);
    const canWrite = await this.canWrite(1_000);
    return canWrite
      ? { ok: true, can_write: true }
      : { ok: false, can_write: false, error: "another process holds the write lock" };
  }
}
