/**
 * The engine: submit, cancel and replay tasks; run them on this instance's
 * workers; sweep up after instances that died. libSQL holds the truth and the
 * broker carries wake-ups (DESIGN §3).
 */
import { getLogger } from "@logtape/logtape";
import { v7 as uuidv7 } from "uuid";
import type { TaskRow } from "../../db/schema.ts";
import { type NewTaskRow, type TaskFilter, TasksRepository } from "../../db/tasks_repository.ts";
import type { Database } from "../../db/client.ts";
import type { TaskServices } from "../services.ts";
import { type Broker, MAX_DELAY_MS } from "./broker.ts";
import { FilaError } from "./errors.ts";
import { isFinal, type Priority, priorityRank } from "./model.ts";
import { TaskChanges } from "./task_changes.ts";
import type { TaskRegistry } from "./task_registry.ts";
import { WorkerPool, type WorkerPoolHooks } from "./worker_pool.ts";
import { Sweeper } from "./sweeper.ts";
import { SameTurnGroup } from "./same_turn_group.ts";

/** A submission as the engine takes it (routes translate the HTTP body into this). */
export interface SubmitRequest {
  type: string;
  payload?: unknown;
  priority?: Priority;
  /** Either a delay from now or an absolute time (epoch ms); not both. */
  delayMs?: number;
  runAt?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  title?: string;
  description?: string;
  idempotencyKey?: string;
  requestId?: string;
}

export interface Submitted {
  task: TaskRow;
  /** false when an idempotency key matched an existing task. */
  created: boolean;
}

export interface EngineOptions {
  db: Database;
  registry: TaskRegistry;
  broker: Broker;
  services: TaskServices;
  workerId: string;
  /** Whether this instance runs tasks (ROLE all or worker). */
  runsWorkers: boolean;
  concurrency: number;
  leaseMs: number;
  sweepIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Finished tasks are deleted this many days after they end (0: never). */
  retentionDays?: number;
  hooks?: WorkerPoolHooks & EngineHooks;
}

export interface EngineHooks {
  onSubmitted?(tasks: TaskRow[]): void;
}

const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_TIMEOUT_MS = 300_000;
const log = getLogger(["fila", "engine"]);

export class Engine {
  readonly repo: TasksRepository;
  readonly changes = new TaskChanges();
  readonly pool: WorkerPool;
  readonly sweeper: Sweeper;
  readonly workerId: string;
  private started = false;
  private readonly stopController = new AbortController();
  /** Single submissions of one event-loop turn, stored in one transaction. */
  private readonly singleInserts: SameTurnGroup<NewTaskRow, { row: TaskRow; created: boolean }>;

  constructor(private readonly options: EngineOptions) {
    this.repo = new TasksRepository(options.db);
    this.singleInserts = new SameTurnGroup((rows) => this.repo.insertMany(rows));
    this.workerId = options.workerId;
    this.pool = new WorkerPool(
      this.repo,
      options.registry,
      options.broker,
      options.services,
      this.changes,
      {
        workerId: options.workerId,
        concurrency: options.concurrency,
        leaseMs: options.leaseMs,
        retryBaseMs: options.retryBaseMs,
        retryMaxMs: options.retryMaxMs,
      },
      options.hooks,
    );
    this.sweeper = new Sweeper(
      this.repo,
      this.pool,
      options.sweepIntervalMs,
      (options.retentionDays ?? 0) * 86_400_000,
    );
  }

  get registry(): TaskRegistry {
    return this.options.registry;
  }

  get broker(): Broker {
    return this.options.broker;
  }

  get runsWorkers(): boolean {
    return this.options.runsWorkers;
  }

  /** Starts workers, the broker listener and the sweeper (worker roles only). */
  start(): void {
    if (this.started || !this.options.runsWorkers) return;
    this.started = true;
    this.pool.start();
    this.options.broker.listen(() => this.pool.fill());
    this.sweeper.start();
  }

  /** Aborts when the instance begins to stop; live streams end on it. */
  get stopSignal(): AbortSignal {
    return this.stopController.signal;
  }

  /** Announces the stop (ends live streams) before the HTTP server drains. */
  beginStop(): void {
    this.stopController.abort();
  }

  /** Graceful stop: no new claims, running tasks get `graceMs`, the rest are handed back. */
  async stop(graceMs: number): Promise<void> {
    this.beginStop();
    this.sweeper.stop();
    this.options.broker.close();
    await this.pool.stop(graceMs);
  }

  /**
   * Runs ready tasks here until none is ready or `maxMs` has passed; resolves to how
   * many were claimed. For the `db` driver on Deno Deploy, where an instance lives
   * only while it has traffic and the minute cron is its one sure wake-up.
   */
  async drain(maxMs: number): Promise<number> {
    const deadline = Date.now() + maxMs;
    let claimed = 0;
    this.pool.start();
    while (Date.now() < deadline && !this.stopSignal.aborted) {
      claimed += await this.pool.fill();
      if (this.pool.inFlight === 0 && !(await this.repo.hasReady())) break;
      await this.pool.slotFreed(Math.max(1, Math.min(250, deadline - Date.now())));
    }
    return claimed;
  }

  /** Validates and stores one task, then wakes a worker. */
  async submit(request: SubmitRequest): Promise<Submitted> {
    const [submitted] = await this.submitMany([request]);
    return submitted;
  }

  /**
   * Validates every request first (all or nothing: an error names the index),
   * stores them in one SQL batch, then sends the wake-ups in one KV commit.
   */
  async submitMany(requests: SubmitRequest[]): Promise<Submitted[]> {
    const now = Date.now();
    const rows = requests.map((request, index) => {
      try {
        return this.toRow(request, now);
      } catch (error) {
        if (error instanceof FilaError && requests.length > 1) {
          throw new FilaError(error.code, `tasks[${index}]: ${error.message}`, {
            index,
            ...(error.details as object ?? {}),
          });
        }
        throw error;
      }
    });
    // a single submission joins a turn: the pool's when this instance runs tasks
    // (a free slot claims it in the same transaction), else a group of this turn's submissions
    const stored = rows.length > 1
      ? await this.repo.insertMany(rows)
      : this.started && !this.stopSignal.aborted
      ? [await this.pool.insert(rows[0])]
      : [await this.singleInserts.add(rows[0])];
    const fresh = stored.filter((s) => s.created).map((s) => s.row);
    if (fresh.length > 0) {
      try {
        this.options.hooks?.onSubmitted?.(fresh);
      } catch { /* observers must not fail a submit */ }
      const now = Date.now();
      // Local Deno KV delivers a message only to the process that enqueued it, so
      // when this instance has workers, due work is woken in-process (a KV write
      // saved per task) and only later work gets a delayed message. The rows are
      // safe either way: a lost wake-up only waits for the sweeper.
      const wakeUps = this.started ? fresh.filter((r) => r.runAt > now) : fresh;
      if (wakeUps.length > 0) {
        await this.options.broker.notify(
          wakeUps.map((r) => ({ id: r.id, delayMs: Math.max(0, r.runAt - now) })),
        ).catch((error) => log.warn("wake-up not sent: {error}", { error: String(error) }));
      }
      if (this.started && fresh.some((r) => r.runAt <= now)) this.pool.fill();
    }
    return stored.map(({ row, created }) => ({ task: row, created }));
  }

  private toRow(request: SubmitRequest, now: number): NewTaskRow {
    const definition = this.options.registry.require(request.type);
    const payload = this.options.registry.validatePayload(request.type, request.payload);
    if (request.delayMs !== undefined && request.runAt !== undefined) {
      throw new FilaError("validation_failed", "give delay_ms or run_at, not both");
    }
    const runAt = request.runAt ?? now + (request.delayMs ?? 0);
    if (runAt - now > MAX_DELAY_MS) {
      throw new FilaError("validation_failed", "a task can be scheduled at most 30 days ahead");
    }
    const priority = request.priority ?? definition.defaults?.priority ?? "medium";
    return {
      id: uuidv7(),
      type: request.type,
      title: request.title ?? null,
      description: request.description ?? null,
      payload,
      status: runAt > now ? "scheduled" : "queued",
      priority: priorityRank(priority),
      maxAttempts: request.maxAttempts ?? definition.defaults?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      timeoutMs: request.timeoutMs ?? definition.defaults?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      runAt: Math.max(runAt, now),
      idempotencyKey: request.idempotencyKey ?? null,
      requestId: request.requestId ?? null,
      createdAt: now,
      updatedAt: now,
    };
  }

  /** The task, or a not_found error. */
  async get(id: string): Promise<TaskRow> {
    const row = await this.repo.get(id);
    if (!row) throw new FilaError("not_found", `no task with id '${id}'`);
    return row;
  }

  list(filter: TaskFilter) {
    return this.repo.list(filter);
  }

  /**
   * Cancels a task: a waiting one at once, a running one by aborting its signal
   * (here or, through `cancel_requested`, on the instance that runs it).
   * A finished task gives a conflict error.
   */
  async cancel(id: string): Promise<TaskRow> {
    const outcome = await this.repo.requestCancel(id);
    if (outcome === "missing") throw new FilaError("not_found", `no task with id '${id}'`);
    const row = await this.get(id);
    if (outcome === "final") {
      throw new FilaError("conflict", `task ${id} is already ${row.status}`, {
        status: row.status,
      });
    }
    if (outcome === "requested") this.pool.abortForCancel(id);
    this.changes.emit(id);
    return row;
  }

  /** Replays a failed or cancelled task from its first attempt. */
  async retry(id: string): Promise<TaskRow> {
    const row = await this.repo.replay(id);
    if (!row) {
      const current = await this.get(id);
      throw new FilaError(
        "conflict",
        `only failed or cancelled tasks can be retried; task ${id} is ${current.status}`,
        { status: current.status },
      );
    }
    this.changes.emit(id);
    await this.options.broker.notify([{ id, delayMs: 0 }]).catch(() => {});
    return row;
  }

  events(id: string, afterId = 0) {
    return this.repo.events(id, afterId);
  }

  isFinal(row: TaskRow): boolean {
    return isFinal(row.status);
  }
}
