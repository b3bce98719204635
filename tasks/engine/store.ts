/**
 * What the engine needs from a store. `db/` implements it once per database
 * (libSQL, PostgreSQL); `main.ts` builds one and hands it to the engine, which
 * imports nothing from `db/`.
 *
 * The history rule (one rule, every store): every change of a task's status,
 * attempt or progress writes one `task_events` row in the same transaction as
 * the change, and its message is the `note` that the change sets (`submitted`,
 * `attempt 2 of 3 on <worker>`, the error of a failed attempt, the reason of a
 * cancel, ...). Both stores do this with triggers on `tasks`, so no write path
 * can forget it and no event can exist without its change.
 *
 * Every write that follows a claim is fenced on (worker_id, attempts, status =
 * 'running'): a worker whose lease expired, and whose task was claimed again
 * elsewhere, can no longer touch it.
 */
import type { TaskEvent, TaskRecord, TypeLimit } from "./model.ts";

/** A submission as stored. */
export interface NewTask {
  id: string;
  type: string;
  title: string | null;
  description: string | null;
  payload: unknown;
  /** `queued`, or `scheduled` when `runAt` is in the future. */
  status: string;
  priority: number;
  maxAttempts: number;
  timeoutMs: number;
  runAt: number;
  idempotencyKey: string | null;
  requestId: string | null;
  resultTtlMs: number | null;
  /**
   * Tasks this one waits for. With any, the task is stored `blocked` and, in the
   * same transaction, released at once if they all succeeded already, or
   * cancelled if one failed or was cancelled (its error names it).
   */
  dependsOn: string[];
  createdAt: number;
}

/** The attempt a worker holds: the fence of every write after a claim. */
export interface AttemptOwner {
  id: string;
  workerId: string;
  attempt: number;
}

/**
 * How an attempt ended, as written in a turn. With `releasesDependents`, the
 * same transaction releases the tasks that waited for it (a success) or cancels
 * them (a failure for good, a cancel).
 */
export type AttemptEnd =
  & AttemptOwner
  & { releasesDependents?: boolean }
  & (
    /** `result` is JSON text, written as it is. */
    | { outcome: "succeeded"; result: string }
    | { outcome: "retrying"; error: string; retryAt: number }
    | { outcome: "failed"; error: string }
    | { outcome: "cancelled"; reason: string }
  );

/** What one transaction of a turn does, in this order. */
export interface Turn {
  inserts: NewTask[];
  ends: AttemptEnd[];
  /**
   * Claim up to `limit` ready tasks, highest priority first, for `workerId`,
   * within the types' cluster-wide `limits` (none: any type; the common case
   * must cost nothing more).
   */
  claim: { workerId: string; limit: number; leaseMs: number; limits: TypeLimit[] } | null;
}

/** A stored submission: the new task, or the one its idempotency key matched. */
export interface Inserted {
  task: TaskRecord;
  created: boolean;
}

export interface TurnResult {
  inserted: Inserted[];
  /** Per end: false when the attempt was no longer this worker's. */
  ended: boolean[];
  claimed: TaskRecord[];
}

export interface TaskFilter {
  /** Any of these statuses. */
  statuses?: readonly string[];
  type?: string;
  priority?: number;
  /** created_at bounds (epoch ms): after is exclusive, before is exclusive. */
  createdAfter?: number;
  createdBefore?: number;
  limit: number;
  offset: number;
}

/** A task's neighbours in the dependency graph. */
export interface TaskLinks {
  dependsOn: { id: string; status: string }[];
  dependents: { id: string; status: string }[];
}

/** Use of a type now: running tasks and starts in the last minute, cluster-wide. */
export interface TypeUsage {
  type: string;
  running: number;
  startedLastMinute: number;
}

/** Counts behind /queue/stats and /metrics. */
export interface QueueCounts {
  byStatus: { status: string; n: number }[];
  /** Waiting and running tasks by status and priority. */
  activeByPriority: { status: string; priority: number; n: number }[];
  byType: { type: string; n: number }[];
  /** run_at of the task that has waited longest while due, or null. */
  oldestDueRunAt: number | null;
  /** Tasks that ended per minute (epoch ms of the minute) and status, since `since`. */
  finishedPerMinute: { minute: number; status: string; n: number }[];
  /** Tasks that ended in the 60 s before `now`, by status. */
  finishedLastMinute: { status: string; n: number }[];
}

export interface StoreHealth {
  ok: boolean;
  /** Whether a write could take the store's write lock just now. */
  can_write: boolean;
  error?: string;
  [detail: string]: unknown;
}

/** The tasks one instance is running now, under its worker id. */
export interface RunningHere {
  workerId: string;
  ids: string[];
}

export type CancelOutcome = "cancelled" | "requested" | "final" | "missing";

/** Whom a wake-up channel tells that work may be ready. */
export interface WakeupListener {
  /** Look for work in `delayMs` (0: now). */
  onWake(delayMs: number): void;
  /** The channel is (again) listening: wake-ups sent before were missed, so look for work now. */
  onReconnect(): void;
}

/**
 * Wake-ups that reach every instance sharing the store (PostgreSQL: LISTEN/NOTIFY).
 * A store that has one offers it as `TaskStore.wakeups`, and `QUEUE_DRIVER=auto` then picks
 * the `pg` driver (brokers.ts).
 */
export interface WakeupChannel {
  /**
   * The store itself announces, in the transaction that makes it, every change that leaves a
   * task waiting (submit, retry, replay, requeue, hand-back): publishing those again is redundant.
   */
  readonly announcesChanges: boolean;
  /** Tells every instance to look for work after each of `delaysMs`. */
  publish(delaysMs: number[]): Promise<void>;
  /** Starts delivering wake-ups to `listener`; returns the unsubscribe function. */
  subscribe(listener: WakeupListener): () => void;
}

export interface TaskStore {
  /** Wake-ups every instance hears, where the store has them (PostgreSQL). */
  readonly wakeups?: WakeupChannel;
  /** One transaction: the inserts, the ends of attempts, then the claim into free slots. */
  turn(turn: Turn): Promise<TurnResult>;
  get(id: string): Promise<TaskRecord | undefined>;
  /** Newest first, with the total that matches. */
  list(filter: TaskFilter): Promise<{ tasks: TaskRecord[]; total: number }>;
  /** History of a task after event id `afterId`, oldest first. */
  events(taskId: string, afterId: number): Promise<TaskEvent[]>;
  /** Stores the progress of a running attempt (fenced). */
  progress(owner: AttemptOwner, percent: number, message: string | null): Promise<boolean>;
  /** A waiting task becomes cancelled; a running one gets `cancel_requested`. */
  requestCancel(id: string, reason: string): Promise<CancelOutcome>;
  /** A failed or cancelled task starts over from its first attempt; null when not allowed. */
  replay(id: string): Promise<TaskRecord | null>;
  /** Heartbeat: extends the lease of a worker's running tasks. */
  renewLeases(workerId: string, ids: string[], leaseUntil: number): Promise<void>;
  /** Of these running tasks, those whose cancel was requested (perhaps through another instance). */
  cancelRequested(ids: string[]): Promise<string[]>;
  /**
   * Running tasks whose lease ran out (their instance died) go back to `queued`,
   * to `failed` after their last attempt, or to `cancelled` when a cancel was
   * requested meanwhile. Returns how many moved. The tasks `runningHere` names
   * are left alone: that instance knows they still run (its heartbeat may just
   * have waited for a lock). Its other expired tasks are not: a turn whose claim
   * committed but whose answer was lost (the connection broke) claimed tasks it
   * never started, and only a sweep releases them.
   */
  requeueExpired(now: number, runningHere?: RunningHere): Promise<number>;
  /** Shutdown: a worker's running tasks go back to `queued`, their attempt undone. */
  handBack(workerId: string, ids: string[]): Promise<number>;
  /** Whether a waiting task is due. */
  hasReady(now: number): Promise<boolean>;
  /** Scheduled tasks whose time came are shown as `queued` (claims take both). */
  promoteDue(now: number): Promise<void>;
  /**
   * Deletes up to `limit` ended tasks (and their history) that outlived their
   * `resultTtlMs`, or ended before `retainedSince` (null: kept forever); returns
   * how many. Callers loop, yielding between chunks.
   */
  purgeExpired(now: number, retainedSince: number | null, limit: number): Promise<number>;
  counts(since: number, now: number): Promise<QueueCounts>;
  /** Of these ids, those that name a stored task. */
  existing(ids: string[]): Promise<string[]>;
  /** The tasks `id` waits for and the tasks that wait for it. */
  links(id: string): Promise<TaskLinks>;
  /** The results of the tasks `id` waits for, by id (given to its run as ctx.dependencies). */
  dependencyResults(id: string): Promise<Record<string, unknown>>;
  /**
   * The safety net of dependencies: releases every `blocked` task whose
   * dependencies all succeeded, cancels those with one that failed or was
   * cancelled. Returns how many moved.
   */
  resolveBlocked(now: number): Promise<number>;
  typeLimits(): Promise<TypeLimit[]>;
  /** Creates or replaces a type's limits. */
  setTypeLimit(limit: TypeLimit): Promise<void>;
  /** Running tasks and starts in the minute before `now`, per type that has either. */
  typeUsage(now: number): Promise<TypeUsage[]>;
  /** Replays up to `limit` failed tasks matching `filter` (statuses ignored); returns how many. */
  retryMany(filter: TaskFilter, limit: number): Promise<number>;
  /** Cancels up to `limit` waiting or blocked tasks matching `filter`; returns how many. */
  cancelMany(filter: TaskFilter, reason: string, limit: number): Promise<number>;
  /** How many tasks there are of each (type, status) (reports; reads every row). */
  countByTypeAndStatus(): Promise<{ type: string; status: string; n: number }[]>;
  health(): Promise<StoreHealth>;
}
