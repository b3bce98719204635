/**
 * How the API shows what the engine and the services keep: ISO 8601 times,
 * priority names, snake_case fields. Every endpoint answers through these.
 */
import {
  priorityName,
  type TaskEvent,
  type TaskRecord,
  type TaskStatus,
} from "../tasks/engine/model.ts";
import type { StoredMail, StoredQuote } from "../tasks/stores.ts";

/** The last time `iso` formatted, and how: see there. */
let lastMs = NaN;
let lastIso: string | null = null;

/**
 * An epoch-ms time as ISO 8601. A time JavaScript's Date cannot hold (a bad
 * stored reading) shows as null instead of failing the whole answer. The last
 * one is kept: a batch's tasks share their times (created, updated and run at
 * are one `now`), and formatting each again was 1 % of a busy instance's time.
 */
export function iso(ms: number | null): string | null {
  if (ms === null) return null;
  if (ms === lastMs) return lastIso;
  const date = new Date(ms);
  lastIso = Number.isNaN(date.getTime()) ? null : date.toISOString();
  lastMs = ms;
  return lastIso;
}

/** A task as every endpoint answers it. */
export function toTaskView(task: TaskRecord) {
  return {
    id: task.id,
    type: task.type,
    title: task.title,
    description: task.description,
    status: task.status as TaskStatus,
    priority: priorityName(task.priority),
    progress: task.progress,
    progress_message: task.progressMessage,
    payload: task.payload,
    result: task.result ?? null,
    error: task.error,
    attempts: task.attempts,
    max_attempts: task.maxAttempts,
    timeout_ms: task.timeoutMs,
    cancel_requested: task.cancelRequested,
    idempotency_key: task.idempotencyKey,
    worker_id: task.workerId,
    result_ttl_s: task.resultTtlMs === null ? null : task.resultTtlMs / 1000,
    run_at: iso(task.runAt)!,
    created_at: iso(task.createdAt)!,
    updated_at: iso(task.updatedAt)!,
    started_at: iso(task.startedAt),
    finished_at: iso(task.finishedAt),
    expires_at: iso(task.expiresAt),
    dependency_count: task.dependencyCount,
  };
}
export type TaskView = ReturnType<typeof toTaskView>;

export function toEventView(event: TaskEvent) {
  return {
    id: event.id,
    task_id: event.taskId,
    at: iso(event.at)!,
    status: event.status as TaskStatus,
    progress: event.progress,
    message: event.message,
  };
}

/**
 * The view of a stored quote, made once per row object: QuotesService hands out
 * the same row until it re-reads, and /currency is the hottest read there is.
 */
const quoteViews = new WeakMap<StoredQuote, ReturnType<typeof toQuoteView>>();

export function cachedQuoteView(row: StoredQuote): ReturnType<typeof toQuoteView> {
  let view = quoteViews.get(row);
  if (view === undefined) {
    view = toQuoteView(row);
    quoteViews.set(row, view);
  }
  return view;
}

/** A quote as the API answers it. */
export function toQuoteView(row: StoredQuote) {
  return {
    id: row.id,
    pair: row.pair,
    code: row.code,
    codein: row.codein,
    name: row.name,
    high: row.high,
    low: row.low,
    bid: row.bid,
    ask: row.ask,
    var_bid: row.varBid,
    pct_change: row.pctChange,
    timestamp: iso(row.timestamp),
    create_date: row.createDate,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

export function toMailView(row: StoredMail) {
  return {
    id: row.id,
    task_id: row.taskId,
    from: row.from,
    to: row.to,
    subject: row.subject,
    text: row.text,
    html: row.html,
    attachments: row.attachments,
    created_at: iso(row.createdAt)!,
  };
}
