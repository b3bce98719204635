/**
 * The vocabulary of the engine: statuses, priorities, and the task as the API
 * shows it. Rows keep epoch ms and a priority rank; views speak ISO 8601 and names.
 */
import type { TaskEventRow, TaskRow } from "../../db/schema.ts";

export const TASK_STATUSES = [
  "scheduled",
  "queued",
  "running",
  "retrying",
  "succeeded",
  "failed",
  "cancelled",
] as const;
export type TaskStatus = typeof TASK_STATUSES[number];

/** Statuses a worker may claim from. */
export const WAITING_STATUSES = ["queued", "scheduled", "retrying"] as const;
/** Statuses a task never leaves on its own. */
export const FINAL_STATUSES = ["succeeded", "failed", "cancelled"] as const;

export function isFinal(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export const PRIORITIES = ["high", "medium", "low"] as const;
export type Priority = typeof PRIORITIES[number];

export function priorityRank(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

export function priorityName(rank: number): Priority {
  return PRIORITIES[rank] ?? "medium";
}

const iso = (ms: number | null) => ms === null ? null : new Date(ms).toISOString();

/** A task as every endpoint answers it. */
export function toTaskView(row: TaskRow) {
  return {
    id: row.id,
    type: row.type,
    title: row.title,
    description: row.description,
    status: row.status as TaskStatus,
    priority: priorityName(row.priority),
    progress: row.progress,
    progress_message: row.progressMessage,
    payload: row.payload,
    result: row.result ?? null,
    error: row.error,
    attempts: row.attempts,
    max_attempts: row.maxAttempts,
    timeout_ms: row.timeoutMs,
    cancel_requested: row.cancelRequested,
    idempotency_key: row.idempotencyKey,
    worker_id: row.workerId,
    run_at: iso(row.runAt)!,
    created_at: iso(row.createdAt)!,
    updated_at: iso(row.updatedAt)!,
    started_at: iso(row.startedAt),
    finished_at: iso(row.finishedAt),
  };
}
export type TaskView = ReturnType<typeof toTaskView>;

export function toEventView(row: TaskEventRow) {
  return {
    id: row.id,
    task_id: row.taskId,
    at: iso(row.at)!,
    status: row.status as TaskStatus,
    progress: row.progress,
    message: row.message,
  };
}
export type TaskEventView = ReturnType<typeof toEventView>;
