/**
 * The vocabulary of the engine: statuses, priorities, and a task as the store
 * keeps it (times in epoch ms, priority as a rank). How the API shows a task is
 * decided in `routes/`, not here.
 */

export const TASK_STATUSES = [
  "blocked",
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
/** Statuses a cancel ends at once: waiting ones, and `blocked` (waiting for its dependencies). */
export const CANCELLABLE_STATUSES = ["blocked", ...WAITING_STATUSES] as const;
/** Statuses a task never leaves on its own. */
export const FINAL_STATUSES = ["succeeded", "failed", "cancelled"] as const;

/** Whether a task in `status` is done for good (until a replay). */
export function isFinal(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export const PRIORITIES = ["high", "medium", "low"] as const;
export type Priority = typeof PRIORITIES[number];

/** 0 = high, 1 = medium, 2 = low: the store orders claims by this number. */
export function priorityRank(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

/** The name of a stored priority rank. */
export function priorityName(rank: number): Priority {
  return PRIORITIES[rank] ?? "medium";
}

/** A task as every store returns it. */
export interface TaskRecord {
  id: string;
  type: string;
  title: string | null;
  description: string | null;
  payload: unknown;
  status: string;
  /** A rank (see priorityRank). */
  priority: number;
  progress: number;
  progressMessage: string | null;
  result: unknown;
  error: string | null;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  runAt: number;
  leaseUntil: number | null;
  workerId: string | null;
  idempotencyKey: string | null;
  cancelRequested: boolean;
  requestId: string | null;
  /** How long the task is kept once it ends (null: the global retention). */
  resultTtlMs: number | null;
  /** When an ended task with a time to live will be deleted. */
  expiresAt: number | null;
  /** How many tasks this one waits for (`blocked` until they all succeeded). */
  dependencyCount: number;
  /** Whether other tasks wait for this one. */
  hasDependents: boolean;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** Cluster-wide limits of a task type; null means unlimited. */
export interface TypeLimit {
  type: string;
  concurrency: number | null;
  ratePerMinute: number | null;
  paused: boolean;
  updatedAt: number;
}

/** One entry of a task's history. */
export interface TaskEvent {
  id: number;
  taskId: string;
  at: number;
  status: string;
  progress: number | null;
  message: string | null;
}
