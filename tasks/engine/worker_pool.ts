/**
 * One instance's workers: runs the tasks its turns claimed, up to
 * `WORKER_CONCURRENCY` at once, each with a lease (renewed by a heartbeat), a
 * timeout and a cancel signal, and hands how each attempt ended to the turn
 * writer.
 */
import { getLogger, type Logger } from "@logtape/logtape";
import { retryDelayMs } from "./backoff.ts";
import { RetryLaterError, UnrecoverableError } from "./errors.ts";
import { priorityName, type TaskRecord } from "./model.ts";
import type { AttemptEnd, TaskStore } from "./store.ts";
import type { TaskChanges } from "./task_changes.ts";
import type { TaskRegistry } from "./task_registry.ts";
import type { ClaimTarget, TurnWriter } from "./turn_writer.ts";

export interface WorkerPoolOptions {
  workerId: string;
  concurrency: number;
  leaseMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export type AttemptOutcome = "succeeded" | "retrying" | "failed" | "cancelled" | "lost";

/** Observers of the pool (metrics, logs). */
export interface WorkerPoolHooks {
  onAttemptEnd?(task: TaskRecord, outcome: AttemptOutcome, durationMs: number): void;
}

type AbortKind = "cancel" | "timeout" | "shutdown";

class AbortReason extends Error {
  constructor(readonly kind: AbortKind, message: string) {
    super(message);
  }
}

interface RunningTask {
  task: TaskRecord;
  controller: AbortController;
  done: Promise<void>;
}

const log = getLogger(["fila", "worker"]);
const NO_DEPENDENCIES: Record<string, unknown> = Object.freeze({});
const CANCEL_POLL_MS = 300;

export class WorkerPool implements ClaimTarget {
  private readonly running = new Map<string, RunningTask>();
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private cancelPollTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly store: TaskStore,
    private readonly writer: TurnWriter,
    private readonly registry: TaskRegistry,
    private readonly services: unknown,
    private readonly changes: TaskChanges,
    private readonly options: WorkerPoolOptions,
    private readonly hooks: WorkerPoolHooks = {},
    /**
     * Called with a time when work becomes ready then (a retry was recorded, or
     * dependents were released): someone must wake up for it.
     */
    private readonly wakeAt: (runAt: number) => void = () => {},
  ) {}

  get inFlight(): number {
    return this.running.size;
  }

  /** The ids of the tasks running here now. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  freeSlots(): number {
    return this.options.concurrency - this.running.size;
  }

  /** Starts the heartbeat and the cancel poll (once). */
  start(): void {
    if (this.heartbeatTimer !== undefined) return;
    const beat = Math.max(100, Math.floor(this.options.leaseMs / 3));
    this.heartbeatTimer = setInterval(() => this.heartbeat(), beat);
    this.cancelPollTimer = setInterval(() => this.pollCancels(), CANCEL_POLL_MS);
  }

  /** Runs a claimed task. Must not throw (see TurnWriter). */
  launch(task: TaskRecord): void {
    const controller = new AbortController();
    const entry: RunningTask = { task, controller, done: Promise.resolve() };
    this.running.set(task.id, entry);
    this.changes.emit(task.id);
    entry.done = this.execute(task, controller).finally(() => {
      this.running.delete(task.id);
      this.changes.emit(task.id);
      this.writer.fill();
    });
  }

  /**
   * Runs one attempt and records its end. Must not throw: the task is claimed, and
   * only a recorded end (or the lease running out) releases it.
   */
  private async execute(task: TaskRecord, controller: AbortController): Promise<void> {
    const started = performance.now();
    const owner = { id: task.id, workerId: this.options.workerId, attempt: task.attempts };
    const taskLog = getLogger(["fila", "task", task.type]).with({
      taskId: task.id,
      type: task.type,
      requestId: task.requestId,
    });
    const timeout = setTimeout(
      () => controller.abort(new AbortReason("timeout", `timed out after ${task.timeoutMs} ms`)),
      task.timeoutMs,
    );
    let end: AttemptEnd | null;
    try {
      const result = await this.run(task, controller.signal, taskLog);
      end = { ...owner, outcome: "succeeded", result: toJsonText(result) };
    } catch (error) {
      end = this.failure(task, owner, error, controller.signal);
    } finally {
      clearTimeout(timeout);
    }
    // its end decides the tasks that wait for it, in the same transaction
    if (end && task.hasDependents) end.releasesDependents = true;
    let outcome: AttemptOutcome = "lost";
    if (end) {
      // a retry is routine (metrics count it): one warning per task that failed for good
      if (end.outcome === "retrying") {
        taskLog.debug(
          "attempt {attempt} of {maxAttempts} failed, retrying in {retryInMs} ms: {error}",
          {
            attempt: task.attempts,
            maxAttempts: task.maxAttempts,
            error: end.error,
            retryInMs: end.retryAt - Date.now(),
          },
        );
      } else if (end.outcome === "failed") {
        taskLog.warn("failed after {attempt} of {maxAttempts} attempts: {error}", {
          attempt: task.attempts,
          maxAttempts: task.maxAttempts,
          error: end.error,
        });
      }
      try {
        // an end is retried until the lease would have run out, then the sweeper decides
        if (await this.writer.end(end, this.options.leaseMs)) {
          outcome = end.outcome;
          if (end.outcome === "retrying") this.wakeAt(end.retryAt);
          else if (end.releasesDependents) this.wakeAt(Date.now());
        }
      } catch (error) {
        log.error("could not record the end of task {id}: {error}", {
          id: task.id,
          error: String(error),
        });
      }
    }
    const durationMs = performance.now() - started;
    if (outcome === "lost" && end) {
      taskLog.warn("attempt {attempt} ended but the task was no longer ours", {
        attempt: task.attempts,
      });
    } else {
      taskLog.debug("attempt {attempt} {outcome} in {durationMs} ms", {
        attempt: task.attempts,
        outcome,
        durationMs,
      });
    }
    try {
      this.hooks.onAttemptEnd?.(task, outcome, durationMs);
    } catch { /* observers must not break the pool */ }
  }

  private async run(task: TaskRecord, signal: AbortSignal, taskLog: Logger): Promise<unknown> {
    const definition = this.registry.get(task.type);
    if (!definition) throw new UnrecoverableError(`unknown task type '${task.type}'`);
    const parsed = definition.input.safeParse(task.payload);
    if (!parsed.success) {
      throw new UnrecoverableError(`payload no longer valid: ${parsed.error.message}`);
    }
    const dependencies = task.dependencyCount > 0
      ? await this.store.dependencyResults(task.id)
      : NO_DEPENDENCIES;
    const owner = { id: task.id, workerId: this.options.workerId, attempt: task.attempts };
    return runUntilAborted(
      () =>
        definition.run({
          input: parsed.data,
          taskId: task.id,
          submittedAt: task.createdAt,
          attempt: task.attempts,
          maxAttempts: task.maxAttempts,
          priority: priorityName(task.priority),
          signal,
          log: taskLog,
          dependencies,
          services: this.services,
          progress: async (percent, message) => {
            const pct = Math.max(0, Math.min(100, Math.round(percent)));
            await this.store.progress(owner, pct, message ?? null);
            this.changes.emit(task.id);
          },
        }),
      signal,
    );
  }

  /** The end of a failed attempt, or null when it is not this worker's to write. */
  private failure(
    task: TaskRecord,
    owner: { id: string; workerId: string; attempt: number },
    error: unknown,
    signal: AbortSignal,
  ): AttemptEnd | null {
    const reason = signal.aborted && signal.reason instanceof AbortReason ? signal.reason : null;
    if (reason?.kind === "shutdown") return null; // handed back by stop()
    if (reason?.kind === "cancel") {
      return { ...owner, outcome: "cancelled", reason: "stopped while running" };
    }
    const message = reason ? reason.message : errorMessage(error);
    const retryable = !(error instanceof UnrecoverableError) && task.attempts < task.maxAttempts;
    if (!retryable) return { ...owner, outcome: "failed", error: message };
    let delay = retryDelayMs(task.attempts, this.options.retryBaseMs, this.options.retryMaxMs);
    if (error instanceof RetryLaterError) delay = Math.max(delay, error.retryAfterMs);
    return { ...owner, outcome: "retrying", error: message, retryAt: Date.now() + delay };
  }

  /** Resolves when a running task ends (a slot frees) or after `ms`, whichever is first. */
  async slotFreed(ms: number): Promise<void> {
    const running = [...this.running.values()].map((r) => r.done);
    if (running.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.race(running), new Promise((r) => timer = setTimeout(r, ms))]);
    clearTimeout(timer);
  }

  /** Aborts a task running here because its cancel was requested. */
  abortForCancel(id: string): boolean {
    const entry = this.running.get(id);
    if (!entry) return false;
    entry.controller.abort(new AbortReason("cancel", "cancelled"));
    return true;
  }

  private async heartbeat(): Promise<void> {
    if (this.running.size === 0) return;
    try {
      await this.store.renewLeases(
        this.options.workerId,
        [...this.running.keys()],
        Date.now() + this.options.leaseMs,
      );
    } catch (error) {
      log.warn("lease renewal failed: {error}", { error: String(error) });
    }
  }

  private async pollCancels(): Promise<void> {
    if (this.running.size === 0) return;
    try {
      for (const id of await this.store.cancelRequested([...this.running.keys()])) {
        this.abortForCancel(id);
      }
    } catch (error) {
      log.warn("cancel poll failed: {error}", { error: String(error) });
    }
  }

  /**
   * Gives running tasks `graceMs` to end, then aborts the rest and hands them
   * back to `queued` for another instance. Claims must be closed first.
   */
  async stop(graceMs: number): Promise<void> {
    const all = () => Promise.all([...this.running.values()].map((r) => r.done));
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([all(), new Promise((r) => graceTimer = setTimeout(r, graceMs))]);
    clearTimeout(graceTimer);
    const left = [...this.running.values()];
    if (left.length > 0) {
      for (const r of left) {
        r.controller.abort(new AbortReason("shutdown", "instance shutting down"));
      }
      try {
        const handed = await this.store.handBack(this.options.workerId, left.map((r) => r.task.id));
        log.info("handed {count} running tasks back at shutdown", { count: handed });
      } catch (error) {
        log.error("could not hand tasks back (their leases will expire): {error}", {
          error: String(error),
        });
      }
      await all();
    }
    clearInterval(this.heartbeatTimer);
    clearInterval(this.cancelPollTimer);
  }
}

/** Runs `fn`, settling early with the signal's reason if it aborts first. */
function runUntilAborted<T>(fn: () => T | Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    Promise.resolve().then(fn).then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}

/**
 * A task's result as JSON text: written as it is by every store. A result that
 * JSON cannot hold fails the attempt here rather than the whole turn later.
 */
function toJsonText(result: unknown): string {
  const text = JSON.stringify(result ?? null);
  if (text === undefined) {
    throw new UnrecoverableError("the task returned a value JSON cannot hold");
  }
  return text;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
