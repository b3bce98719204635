/**
 * The drizzle pg-core schema: Fila's tables on PostgreSQL, column for column the
 * libSQL ones (db/libsql/schema.ts), so both stores answer the API alike.
 * Migrations in `db/postgres/migrations/` are generated from it by drizzle-kit
 * (`deno task db:generate:postgres`); the history and wake-up triggers are a
 * custom migration beside them.
 *
 * Types: times (and durations) are epoch milliseconds in `bigint` read as JS
 * numbers, as libSQL keeps them; payloads and results are `json`, not `jsonb`,
 * because `json` keeps the text the client sent (key order included) and Fila
 * never queries inside it.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  json,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
} from "drizzle-orm/pg-core";

/** Epoch ms (or a duration in ms) as bigint, read back as a JS number. */
const ms = (name: string) => bigint(name, { mode: "number" });

export const tasks = pgTable("tasks", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  title: text("title"),
  description: text("description"),
  payload: json("payload").notNull(),
  status: text("status").notNull(),
  /** 0 = high, 1 = medium, 2 = low: the claim orders by it. */
  priority: integer("priority").notNull(),
  progress: integer("progress").notNull().default(0),
  progressMessage: text("progress_message"),
  result: json("result"),
  error: text("error"),
  attempts: integer("attempts").notNull().default(0),
  maxAttempts: integer("max_attempts").notNull(),
  timeoutMs: ms("timeout_ms").notNull(),
  runAt: ms("run_at").notNull(),
  leaseUntil: ms("lease_until"),
  workerId: text("worker_id"),
  idempotencyKey: text("idempotency_key"),
  cancelRequested: boolean("cancel_requested").notNull().default(false),
  requestId: text("request_id"),
  /** Why the last change happened; the history trigger copies it into task_events (see TaskStore). */
  note: text("note"),
  /** Keep the task this long after it ends (null: the global retention). */
  resultTtlMs: ms("result_ttl_ms"),
  /** finished_at + result_ttl_ms, set when the task ends with a TTL: what the purge looks at. */
  expiresAt: ms("expires_at"),
  /** How many tasks this one waits for (task_dependencies rows with task_id = id). */
  dependencyCount: integer("dependency_count").notNull().default(0),
  /** Whether other tasks wait for this one: its end must release or cancel them. */
  hasDependents: boolean("has_dependents").notNull().default(false),
  createdAt: ms("created_at").notNull(),
  updatedAt: ms("updated_at").notNull(),
  startedAt: ms("started_at"),
  finishedAt: ms("finished_at"),
}, (t) => [
  uniqueIndex("tasks_idempotency_key_uq").on(t.idempotencyKey),
  // the claim (FOR UPDATE SKIP LOCKED) walks waiting tasks in priority order, then by when they
  // became due; status last, so /queue/stats counts waiting tasks by status and priority from it
  index("tasks_ready_idx").on(t.priority, t.runAt, t.status)
    .where(sql`status in ('queued', 'scheduled', 'retrying')`),
  // listing by status or type newest first (ids are UUIDv7: creation order), counting by them
  index("tasks_status_id_idx").on(t.status, t.id),
  index("tasks_type_id_idx").on(t.type, t.id),
  // throughput per minute and the retention purge: recent or old ended tasks only
  index("tasks_finished_idx").on(t.finishedAt, t.status).where(sql`finished_at is not null`),
  index("tasks_expires_idx").on(t.expiresAt).where(sql`expires_at is not null`),
]);

export const taskEvents = pgTable("task_events", {
  id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  taskId: text("task_id").notNull(),
  at: ms("at").notNull(),
  status: text("status").notNull(),
  progress: integer("progress"),
  message: text("message"),
}, (t) => [index("task_events_task_idx").on(t.taskId, t.id)]);

/** "task_id waits for depends_on_id to succeed." */
export const taskDependencies = pgTable("task_dependencies", {
  taskId: text("task_id").notNull(),
  dependsOnId: text("depends_on_id").notNull(),
}, (t) => [
  primaryKey({ columns: [t.taskId, t.dependsOnId] }),
  index("task_dependencies_parent_idx").on(t.dependsOnId),
]);

/** Cluster-wide limits of a task type (PATCH /task-types/{type}). */
export const typeLimits = pgTable("type_limits", {
  type: text("type").primaryKey(),
  /** Most tasks of the type running at once, across all instances. */
  concurrency: integer("concurrency"),
  /** Most starts of the type per minute, across all instances. */
  ratePerMinute: integer("rate_per_minute"),
  paused: boolean("paused").notNull().default(false),
  updatedAt: ms("updated_at").notNull(),
});

/** Starts of rate-limited types, kept a minute: the sliding window of rate_per_minute. */
export const typeStarts = pgTable("type_starts", {
  id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  type: text("type").notNull(),
  at: ms("at").notNull(),
}, (t) => [index("type_starts_type_at_idx").on(t.type, t.at)]);

/** Recurring schedules (PUT /schedules/{name}); the quote refresh is a built-in one. */
export const schedules = pgTable("schedules", {
  name: text("name").primaryKey(),
  cron: text("cron").notNull(),
  timezone: text("timezone").notNull().default("UTC"),
  type: text("type").notNull(),
  payload: json("payload").notNull(),
  /** A priority rank, or null for the type's default. */
  priority: integer("priority"),
  maxAttempts: integer("max_attempts"),
  paused: boolean("paused").notNull().default(false),
  /** Defined by Fila itself (its cron comes from configuration). */
  builtin: boolean("builtin").notNull().default(false),
  /** The tick (epoch ms of its minute) of the last run, and the task it submitted. */
  lastRunAt: ms("last_run_at"),
  lastTaskId: text("last_task_id"),
  createdAt: ms("created_at").notNull(),
  updatedAt: ms("updated_at").notNull(),
});

export const quotes = pgTable("quotes", {
  id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
  pair: text("pair").notNull(),
  code: text("code").notNull(),
  codein: text("codein").notNull(),
  name: text("name").notNull(),
  high: doublePrecision("high").notNull(),
  low: doublePrecision("low").notNull(),
  bid: doublePrecision("bid").notNull(),
  ask: doublePrecision("ask").notNull(),
  varBid: doublePrecision("var_bid"),
  pctChange: doublePrecision("pct_change"),
  /** Upstream reading time, epoch ms. */
  timestamp: ms("timestamp").notNull(),
  /** Upstream's create_date, converted to ISO 8601 UTC. */
  createDate: text("create_date").notNull(),
  createdAt: ms("created_at").notNull(),
  updatedAt: ms("updated_at").notNull(),
}, (t) => [
  uniqueIndex("quotes_pair_timestamp_uq").on(t.pair, t.timestamp),
]);

export const sales = pgTable("sales", {
  id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  dataset: text("dataset").notNull(),
  date: text("date").notNull(),
  region: text("region").notNull(),
  product: text("product").notNull(),
  quantity: integer("quantity").notNull(),
  unitPrice: doublePrecision("unit_price").notNull(),
  amount: doublePrecision("amount").notNull(),
}, (t) => [
  index("sales_dataset_idx").on(t.dataset),
  index("sales_region_date_idx").on(t.region, t.date),
]);

export const outbox = pgTable("outbox", {
  id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
  taskId: text("task_id"),
  from: text("from").notNull(),
  to: text("to").notNull(),
  subject: text("subject").notNull(),
  text: text("text").notNull(),
  html: text("html"),
  /** [{ filename, contentType, content }] with text content. */
  attachments: json("attachments").notNull().default(sql`'[]'`),
  createdAt: ms("created_at").notNull(),
}, (t) => [index("outbox_created_idx").on(t.createdAt)]);

export type TaskRow = typeof tasks.$inferSelect;
