/**
 * One instance's workers: claims ready tasks up to `WORKER_CONCURRENCY`, runs
 * them with a lease (renewed by a heartbeat), a timeout and a cancel signal, and
 * records how each attempt ended.
 */
import { getLogger } from "@logtape/logtape";
import { setImmediate } from "node:timers";
import type {
  Completion,
  Inserted,
  NewTaskRow,
  TasksRepository,
} from "../../db/tasks_repository.ts";
import type { TaskRow } from "../../db/schema.ts";
import type { TaskServices } from "../services.ts";
import { retryDelayMs } from "./backoff.ts";
import type { Pending } from "./same_turn_group.ts";
import type { Broker } from "./broker.ts";
import { RetryLaterError, UnrecoverableError } from "./errors.ts";
import { type Priority, priorityName } from "./model.ts";
import type { TaskChanges } from "./task_changes.ts";
import type { TaskRegistry } from "./task_registry.ts";

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
  onAttemptEnd?(task: TaskRow, outcome: AttemptOutcome, durationMs: number): void;
}

type AbortKind = "cancel" | "timeout" | "shutdown";

class AbortReason extends Error {
  constructor(readonly kind: AbortKind, message: string) {
    super(message);
  }
}

interface RunningTask {
  row: TaskRow;
  controller: AbortController;
  done: Promise<void>;
}

const log = getLogger(["fila", "worker"]);
const CANCEL_POLL_MS = 300;

export class WorkerPool {
  private readonly running = new Map<string, RunningTask>();
  private claiming: Promise<number> | null = null;
  private pokedWhileClaiming = false;
  private stopping = false;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private cancelPollTimer: ReturnType<typeof setTimeout> | undefined;
  /** Writes waiting for the next turn, with their callers. */
  private completions: Pending<Completion, boolean>[] = [];
  private inserts: Pending<NewTaskRow, Inserted>[] = [];
  private turnScheduled = false;

  constructor(
    private readonly repo: TasksRepository,
    private readonly registry: TaskRegistry,
    private readonly broker: Broker,
    private readonly services: TaskServices,
    private readonly changes: TaskChanges,
    private readonly options: WorkerPoolOptions,
    private readonly hooks: WorkerPoolHooks = {},
  ) {}

  get inFlight(): number {
    return this.running.size;
  }

  get concurrency(): number {
    return this.options.concurrency;
  }

  /** Starts the heartbeat and the cancel poll (once). */
  start(): void {
    if (this.heartbeatTimer !== undefined) return;
    const beat = Math.max(100, Math.floor(this.options.leaseMs / 3));
    this.heartbeatTimer = setInterval(() => this.heartbeat(), beat);
    this.cancelPollTimer = setInterval(() => this.pollCancels(), CANCEL_POLL_MS);
  }

  /**
   * Runs turns until there is nothing to write and no free slot to fill; resolves
   * to how many tasks were claimed. A turn is one transaction: the single
   * submissions and the successes of the last turn of the event loop, and the
   * claim of ready tasks into the slots free after them.
   */
  fill(): Promise<number> {
    if (this.stopping && !this.hasWrites()) return Promise.resolve(0);
    if (this.claiming) {
      this.pokedWhileClaiming = true;
      return Promise.resolve(0);
    }
    this.claiming = this.claimLoop().finally(() => {
      this.claiming = null;
      // a slot freed (or a write arrived) between the loop's last look and now
      if (this.pokedWhileClaiming) this.fill();
    });
    return this.claiming;
  }

  private hasWrites(): boolean {
    return this.completions.length > 0 || this.inserts.length > 0;
  }

  private async claimLoop(): Promise<number> {
    let claimed = 0;
    do {
      this.pokedWhileClaiming = false;
      for (;;) {
        const done = this.completions;
        const inserts = this.inserts;
        this.completions = [];
        this.inserts = [];
        // the tasks being finished still hold their slots until this write ends
        const free = this.stopping ? 0 : this.options.concurrency - this.running.size + done.length;
        if (free <= 0 && done.length === 0 && inserts.length === 0) break;
        let rows: TaskRow[];
        try {
          const turn = await this.repo.turn({
            inserts: inserts.map((i) => i.item),
            completions: done.map((d) => d.item),
            claim: {
              workerId: this.options.workerId,
              limit: Math.max(0, free),
              leaseMs: this.options.leaseMs,
            },
          });
          inserts.forEach((p, i) => p.resolve(turn.inserted[i]));
          done.forEach((d, i) => d.resolve(turn.written[i]));
          rows = turn.claimed;
        } catch (error) {
          for (const p of [...inserts, ...done]) p.reject(error);
          log.error("turn failed: {error}", { error: String(error) });
          return claimed;
        }
        for (const row of rows) this.start1(row);
        claimed += rows.length;
        if (rows.length < free && !this.hasWrites()) break;
      }
    } while (this.pokedWhileClaiming);
    return claimed;
  }

  /**
   * Stores a single submission in the next turn, where a free slot claims it in
   * the same transaction (the engine sends batches to the repository directly).
   */
  insert(row: NewTaskRow): Promise<Inserted> {
    return this.forNextTurn(this.inserts, row);
  }

  /** Records a success in the next turn. */
  private complete(item: Completion): Promise<boolean> {
    return this.forNextTurn(this.completions, item);
  }

  private forNextTurn<I, O>(queue: Pending<I, O>[], item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      queue.push({ item, resolve, reject });
      this.scheduleTurn();
    });
  }

  /**
   * The next turn runs after this turn of the event loop, so the writes asked
   * for in it go together. setImmediate, not setTimeout(0): chained timers are
   * clamped to 1–4 ms, which left the worker idle between turns.
   */
  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => {
      this.turnScheduled = false;
      this.fill();
    });
  }

  private start1(row: TaskRow): void {
    const controller = new AbortController();
    const entry: RunningTask = { row, controller, done: Promise.resolve() };
    this.running.set(row.id, entry);
    this.changes.emit(row.id);
    entry.done = this.execute(row, controller).finally(() => {
      this.running.delete(row.id);
      this.changes.emit(row.id);
      this.fill();
    });
  }

  /**
   * Runs one attempt and records its end. Must not throw: the task is claimed, and
   * only a recorded end (or the lease running out) releases it.
   */
  private async execute(row: TaskRow, controller: AbortController): Promise<void> {
    const started = performance.now();
    const attempt = row.attempts;
    const priority: Priority = priorityName(row.priority);
    const taskLog = getLogger(["fila", "task", row.type]).with({
      taskId: row.id,
      type: row.type,
      requestId: row.requestId,
    });
    const timeout = setTimeout(
      () => controller.abort(new AbortReason("timeout", `timed out after ${row.timeoutMs} ms`)),
      row.timeoutMs,
    );
    let outcome: AttemptOutcome = "lost";
    try {
      const definition = this.registry.get(row.type);
      if (!definition) throw new UnrecoverableError(`unknown task type '${row.type}'`);
      const parsed = definition.input.safeParse(row.payload);
      if (!parsed.success) {
        throw new UnrecoverableError(`payload no longer valid: ${parsed.error.message}`);
      }
      const result = await runUntilAborted(
        () =>
          definition.run({
            input: parsed.data,
            taskId: row.id,
            attempt,
            maxAttempts: row.maxAttempts,
            priority,
            signal: controller.signal,
            log: taskLog,
            services: this.services,
            progress: async (percent, message) => {
              const pct = Math.max(0, Math.min(100, Math.round(percent)));
              await this.repo.progress(
                row.id,
                this.options.workerId,
                attempt,
                pct,
                message ?? null,
              );
              this.changes.emit(row.id);
            },
          }),
        controller.signal,
      );
      outcome =
        await this.complete({ id: row.id, workerId: this.options.workerId, attempt, result })
          ? "succeeded"
          : "lost";
    } catch (error) {
      outcome = await this.recordFailure(row, attempt, error, controller.signal, taskLog);
    } finally {
      clearTimeout(timeout);
    }
    const durationMs = performance.now() - started;
    if (outcome === "lost") {
      taskLog.warn("attempt {attempt} ended but the task was no longer ours", { attempt });
    } else {taskLog.debug("attempt {attempt} {outcome} in {durationMs} ms", {
        attempt,
        outcome,
        durationMs,
      });}
    try {
      this.hooks.onAttemptEnd?.(row, outcome, durationMs);
    } catch { /* observers must not break the pool */ }
  }

  private async recordFailure(
    row: TaskRow,
    attempt: number,
    error: unknown,
    signal: AbortSignal,
    taskLog: ReturnType<typeof getLogger>,
  ): Promise<AttemptOutcome> {
    const reason = signal.aborted && signal.reason instanceof AbortReason ? signal.reason : null;
    const workerId = this.options.workerId;
    try {
      if (reason?.kind === "shutdown") return "lost"; // handed back by stop()
      if (reason?.kind === "cancel") {
        return await this.repo.finishCancelled(row.id, workerId, attempt) ? "cancelled" : "lost";
      }
      const message = reason ? reason.message : errorMessage(error);
      const retryable = !(error instanceof UnrecoverableError) && attempt < row.maxAttempts;
      let retryAt: number | null = null;
      if (retryable) {
        let delay = retryDelayMs(attempt, this.options.retryBaseMs, this.options.retryMaxMs);
        if (error instanceof RetryLaterError) delay = Math.max(delay, error.retryAfterMs);
        retryAt = Date.now() + delay;
      }
      taskLog.warn("attempt {attempt} of {maxAttempts} failed: {error}", {
        attempt,
        maxAttempts: row.maxAttempts,
        error: message,
        retryInMs: retryAt === null ? null : retryAt - Date.now(),
      });
      if (!await this.repo.failAttempt(row.id, workerId, attempt, message, retryAt)) return "lost";
      if (retryAt !== null) {
        await this.broker.notify([{ id: row.id, delayMs: retryAt - Date.now() }]).catch(() => {});
        return "retrying";
      }
      return "failed";
    } catch (dbError) {
      // The lease will run out and the sweeper will put the task back.
      log.error("could not record the end of task {id}: {error}", {
        id: row.id,
        error: String(dbError),
      });
      return "lost";
    }
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
      await this.repo.renewLeases(
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
      for (const id of await this.repo.cancelRequested([...this.running.keys()])) {
        this.abortForCancel(id);
      }
    } catch (error) {
      log.warn("cancel poll failed: {error}", { error: String(error) });
    }
  }

  /**
   * Stops claiming, gives running tasks `graceMs` to end, then aborts the rest
   * and hands them back to `queued` for another instance.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    await this.claiming?.catch(() => {});
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
        const handed = await this.repo.handBack(this.options.workerId, left.map((r) => r.row.id));
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

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
