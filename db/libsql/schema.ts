/**
 * The drizzle schema: the single description of Fila's tables. Migrations in
 * `db/migrations/` are generated from it by drizzle-kit (`deno task db:generate`).
 * Times are epoch milliseconds in the store and ISO 8601 strings in the API.
 */
import { sql } from "drizzle-orm";
import {
  index,
  integer,
  primaryKey,
  real,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

export const tasks = sqliteTable("tasks", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  title: text("title"),
  description: text("description"),
  payload: text("payload", { mode: "json" }).notNull(),
  status: text("status").notNull(),
  /** 0 = high, 1 = medium, 2 = low: an integer so the claim query can order by an index. */
  priority: integer("priority").notNull(),
  progress: integer("progress").notNull().default(0),
  progressMessage: text("progress_message"),
  result: text("result", { mode: "json" }),
  error: text("error"),
  attempts: integer("attempts").notNull().default(0),
  maxAttempts: integer("max_attempts").notNull(),
  timeoutMs: integer("timeout_ms").notNull(),
  runAt: integer("run_at").notNull(),
  leaseUntil: integer("lease_until"),
  workerId: text("worker_id"),
  idempotencyKey: text("idempotency_key"),
  cancelRequested: integer("cancel_requested", { mode: "boolean" }).notNull().default(false),
  requestId: text("request_id"),
  /** Why the last change happened; the history triggers copy it into task_events (see TaskStore). */
  note: text("note"),
  /** Keep the task this long after it ends (null: the global retention). */
  resultTtlMs: integer("result_ttl_ms"),
  /** finished_at + result_ttl_ms, set when the task ends with a TTL: what the purge looks at. */
  expiresAt: integer("expires_at"),
  /** How many tasks this one waits for (task_dependencies rows with task_id = id). */
  dependencyCount: integer("dependency_count").notNull().default(0),
  /** Whether other tasks wait for this one: its end must release or cancel them. */
  hasDependents: integer("has_dependents", { mode: "boolean" }).notNull().default(false),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  startedAt: integer("started_at"),
  finishedAt: integer("finished_at"),
}, (t) => [
  uniqueIndex("tasks_idempotency_key_uq").on(t.idempotencyKey),
  // the claim: waiting tasks in priority order, then by when they became due
  // (status last: /queue/stats counts waiting tasks by status and priority from the index alone)
  index("tasks_ready_idx").on(t.priority, t.runAt, t.status)
    .where(sql`status in ('queued', 'scheduled', 'retrying')`),
  // Every status but 'succeeded': the tasks that run, wait, or ended badly. The bulk of the
  // table, its succeeded tasks, never enters it, so each task's last change removes its
  // entry instead of writing one more. Queries repeat its condition as written (`notSucceeded`
  // in task_store.ts): SQLite uses a partial index only then. Within a status its entries
  // are in rowid order, the order tasks were stored: lists read them newest first, unsorted.
  index("tasks_status_idx").on(t.status).where(sql`status <> 'succeeded'`),
  // listing by type newest first (rowid order again) and counting by type
  index("tasks_type_idx").on(t.type),
  // throughput per minute and the retention purge: recent or old ended tasks only
  index("tasks_finished_idx").on(t.finishedAt, t.status).where(sql`finished_at is not null`),
  index("tasks_expires_idx").on(t.expiresAt).where(sql`expires_at is not null`),
  // No index on created_at (the primary key backwards is "newest first") nor on
  // worker_id (a worker's rows are found among the few running ones): every
  // index is one more page written per task state change.
]);

export const taskEvents = sqliteTable("task_events", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  taskId: text("task_id").notNull(),
  at: integer("at").notNull(),
  status: text("status").notNull(),
  progress: integer("progress"),
  message: text("message"),
}, (t) => [index("task_events_task_idx").on(t.taskId, t.id)]);

/** "task_id waits for depends_on_id to succeed." */
export const taskDependencies = sqliteTable("task_dependencies", {
  taskId: text("task_id").notNull(),
  dependsOnId: text("depends_on_id").notNull(),
}, (t) => [
  primaryKey({ columns: [t.taskId, t.dependsOnId] }),
  index("task_dependencies_parent_idx").on(t.dependsOnId),
]);

/** Cluster-wide limits of a task type (PATCH /task-types/{type}). */
export const typeLimits = sqliteTable("type_limits", {
  type: text("type").primaryKey(),
  /** Most tasks of the type running at once, across all instances. */
  concurrency: integer("concurrency"),
  /** Most starts of the type per minute, across all instances. */
  ratePerMinute: integer("rate_per_minute"),
  paused: integer("paused", { mode: "boolean" }).notNull().default(false),
  updatedAt: integer("updated_at").notNull(),
});

/** Starts of rate-limited types, kept a minute: the sliding window of rate_per_minute. */
export const typeStarts = sqliteTable("type_starts", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  type: text("type").notNull(),
  at: integer("at").notNull(),
}, (t) => [index("type_starts_type_at_idx").on(t.type, t.at)]);

/** Recurring schedules (PUT /schedules/{name}); the quote refresh is a built-in one. */
export const schedules = sqliteTable("schedules", {
  name: text("name").primaryKey(),
  cron: text("cron").notNull(),
  timezone: text("timezone").notNull().default("UTC"),
  type: text("type").notNull(),
  payload: text("payload", { mode: "json" }).notNull(),
  /** A priority rank, or null for the type's default. */
  priority: integer("priority"),
  maxAttempts: integer("max_attempts"),
  paused: integer("paused", { mode: "boolean" }).notNull().default(false),
  /** Defined by Fila itself (its cron comes from configuration). */
  builtin: integer("builtin", { mode: "boolean" }).notNull().default(false),
  /** The tick (epoch ms of its minute) of the last run, and the task it submitted. */
  lastRunAt: integer("last_run_at"),
  lastTaskId: text("last_task_id"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const quotes = sqliteTable("quotes", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  pair: text("pair").notNull(),
  code: text("code").notNull(),
  codein: text("codein").notNull(),
  name: text("name").notNull(),
  high: real("high").notNull(),
  low: real("low").notNull(),
  bid: real("bid").notNull(),
  ask: real("ask").notNull(),
  varBid: real("var_bid"),
  pctChange: real("pct_change"),
  /** Upstream reading time, epoch ms. */
  timestamp: integer("timestamp").notNull(),
  /** Upstream's create_date, converted to ISO 8601 UTC. */
  createDate: text("create_date").notNull(),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
}, (t) => [
  uniqueIndex("quotes_pair_timestamp_uq").on(t.pair, t.timestamp),
]);

export const sales = sqliteTable("sales", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  dataset: text("dataset").notNull(),
  date: text("date").notNull(),
  region: text("region").notNull(),
  product: text("product").notNull(),
  quantity: integer("quantity").notNull(),
  unitPrice: real("unit_price").notNull(),
  amount: real("amount").notNull(),
}, (t) => [
  index("sales_dataset_idx").on(t.dataset),
  index("sales_region_date_idx").on(t.region, t.date),
]);

export const outbox = sqliteTable("outbox", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  taskId: text("task_id"),
  from: text("from").notNull(),
  to: text("to").notNull(),
  subject: text("subject").notNull(),
  text: text("text").notNull(),
  html: text("html"),
  /** [{ filename, contentType, content }] with text content. */
  attachments: text("attachments", { mode: "json" }).notNull().default(sql`'[]'`),
  createdAt: integer("created_at").notNull(),
}, (t) => [index("outbox_created_idx").on(t.createdAt)]);

export type TaskRow = typeof tasks.$inferSelect;
export type TaskEventRow = typeof taskEvents.$inferSelect;
export type QuoteRow = typeof quotes.$inferSelect;
export type SaleRow = typeof sales.$inferSelect;
export type OutboxRow = typeof outbox.$inferSelect;
