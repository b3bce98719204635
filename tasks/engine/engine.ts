/**
 * The engine: submit, cancel and replay tasks; run them on this instance's
 * workers; sweep up after instances that died. The store holds the truth and
 * the broker carries wake-ups. Everything else in this folder is its inside.
 */
import { getLogger } from "@logtape/logtape";
import { v7 as uuidv7 } from "uuid";
import { type Broker, MAX_DELAY_MS } from "./broker.ts";
import { InvalidTaskError, TaskConflictError, TaskNotFoundError } from "./errors.ts";
import { InstanceRegistry } from "./instance_registry.ts";
import {
  type Priority,
  priorityRank,
  type TaskEvent,
  type TaskRecord,
  type TypeLimit,
} from "./model.ts";
import type {
  NewTask,
  QueueCounts,
  StoreHealth,
  TaskFilter,
  TaskLinks,
  TaskStore,
  TypeUsage,
} from "./store.ts";
import { Sweeper } from "./sweeper.ts";
import type { TaskDefinition } from "./task_definition.ts";
import { TaskChanges } from "./task_changes.ts";
import { TaskRegistry } from "./task_registry.ts";
import { TurnWriter } from "./turn_writer.ts";
import { WorkerPool, type WorkerPoolHooks } from "./worker_pool.ts";

export type { InstanceInfo } from "./instance_registry.ts";

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
  /** Keep the task this long once it ends, then delete it (RQ's result_ttl). */
  resultTtlMs?: number;
  /**
   * Tasks to wait for: ids of stored tasks, or (in a batch) the index of an
   * earlier item of the same batch. At most MAX_DEPENDENCIES.
   */
  dependsOn?: (string | number)[];
  requestId?: string;
}

export interface Submitted {
  task: TaskRecord;
  /** false when an idempotency key matched an existing task. */
  created: boolean;
}

/** Observers of the engine (metrics): submissions and the ends of attempts. */
export interface EngineHooks extends WorkerPoolHooks {
  onSubmitted?(tasks: TaskRecord[]): void;
}

export interface EngineOptions {
  store: TaskStore;
  broker: Broker;
  /** Instances announce themselves here for /queue/stats. */
  kv: Deno.Kv;
  taskTypes: TaskDefinition[];
  /** Passed to every task run as `ctx.services`. */
  services: unknown;
  workerId: string;
  role: string;
  /** Whether this instance runs tasks (ROLE all or worker). */
  runsWorkers: boolean;
  concurrency: number;
  leaseMs: number;
  sweepIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Ended tasks are deleted this many days after they end (0: never). */
  retentionDays: number;
  hooks?: EngineHooks;
}

/** The most tasks one task may wait for. */
export const MAX_DEPENDENCIES = 100;
/** How often an instance with workers re-reads the types' limits (set on any instance). */
const LIMITS_REFRESH_MS = 1_000;
/** Tasks changed per transaction by a bulk retry or cancel. */
const BULK_CHUNK = 500;

/** How long the minute cron may spend running ready work when the broker needs it. */
export const CRON_DRAIN_MS = 50_000;
const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_TIMEOUT_MS = 300_000;
/**
 * /queue/stats and /metrics share counts for ten times as long as counting took
 * (at most 5 s), once counting takes long enough to matter: on a large store,
 * scrapes and dashboards must not each count it again; on a small one every
 * answer is exact.
 */
const COUNTS_REUSE_FACTOR = 10;
const COUNTS_REUSE_FROM_MS = 50;
const COUNTS_REUSE_MAX_MS = 5_000;
const log = getLogger(["fila", "engine"]);

export class Engine {
  readonly workerId: string;
  private readonly store: TaskStore;
  private readonly broker: Broker;
  private readonly registry: TaskRegistry;
  private readonly changes = new TaskChanges();
  private readonly writer: TurnWriter;
  private readonly pool: WorkerPool;
  private readonly sweeper: Sweeper;
  private readonly instanceRegistry: InstanceRegistry;
  private readonly stopController = new AbortController();
  private started = false;
  private countsCache: { until: number; since: number; counts: Promise<QueueCounts> } | null = null;
  /** The types' limits as last read (claims respect them; empty: none set anywhere). */
  private limits: TypeLimit[] = [];
  private limitsTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: EngineOptions) {
    this.workerId = options.workerId;
    this.store = options.store;
    this.broker = options.broker;
    this.registry = new TaskRegistry(options.taskTypes);
    this.writer = new TurnWriter(options.store, {
      workerId: options.workerId,
      leaseMs: options.leaseMs,
      limits: () => this.limits,
    });
    this.pool = new WorkerPool(
      options.store,
      this.writer,
      this.registry,
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
      (runAt) =>
        this.broker.notify([{ delayMs: Math.max(0, runAt - Date.now()) }]).catch((error) =>
          log.warn("wake-up not sent: {error}", { error: String(error) })
        ),
    );
    this.sweeper = new Sweeper(
      options.store,
      options.runsWorkers ? () => this.writer.fill() : null,
      options.sweepIntervalMs,
      options.retentionDays * 86_400_000,
      // running here, or ended here with the end still to be written
      () => ({
        workerId: options.workerId,
        ids: [...this.pool.runningIds(), ...this.writer.endsOwed()],
      }),
    );
    this.instanceRegistry = new InstanceRegistry(
      options.kv,
      {
        id: options.workerId,
        role: options.role,
        driver: options.broker.name,
        concurrency: options.runsWorkers ? options.concurrency : 0,
      },
      () => this.pool.inFlight,
    );
  }

  /** The task types this engine runs. */
  taskTypes(): TaskDefinition[] {
    return this.registry.all();
  }

  /** The broker driver in use (`kv`, `db`, ...). */
  get brokerName(): string {
    return this.broker.name;
  }

  /** Starts workers, the broker listener and the sweeper (worker roles), and the instance's heartbeat. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.instanceRegistry.start();
    if (!this.options.runsWorkers) return;
    this.pool.start();
    this.refreshLimits().finally(() => this.writer.fill());
    this.limitsTimer = setInterval(() => this.refreshLimits(), LIMITS_REFRESH_MS);
    this.writer.openClaims(this.pool);
    this.broker.listen(() => this.writer.fill());
    this.sweeper.start();
    this.writer.fill();
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
    this.writer.closeClaims();
    this.sweeper.stop();
    clearInterval(this.limitsTimer);
    await this.broker.close();
    await this.writer.idle();
    await this.pool.stop(graceMs);
    await this.writer.idle();
    this.writer.close();
    await this.instanceRegistry.stop();
  }

  /** Validates and stores one task, then wakes a worker. */
  async submit(request: SubmitRequest): Promise<Submitted> {
    const [submitted] = await this.submitMany([request]);
    return submitted;
  }

  /**
   * Validates every request first (all or nothing: an error names the index),
   * stores them in one transaction, then sends the wake-ups they need.
   */
  async submitMany(requests: SubmitRequest[]): Promise<Submitted[]> {
    const now = Date.now();
    const tasks = requests.map((request, index) => {
      try {
        return this.toNewTask(request, now);
      } catch (error) {
        if (error instanceof InvalidTaskError && requests.length > 1) throw error.forItem(index);
        throw error;
      }
    });
    await this.linkDependencies(requests, tasks);
    const inserted = await this.writer.insert(tasks);
    const fresh = inserted.filter((i) => i.created).map((i) => i.task);
    if (fresh.length > 0) {
      try {
        this.options.hooks?.onSubmitted?.(fresh);
      } catch { /* observers must not fail a submit */ }
      await this.wake(fresh);
    }
    return inserted.map(({ task, created }) => ({ task, created }));
  }

  /**
   * Wake-ups for stored tasks. Where this instance claims, a due task was already
   * claimed in the turn that stored it, or waits for the next free slot here; only
   * later tasks need a wake-up then, unless the broker reaches other instances too.
   * The rows are safe either way: a lost wake-up only waits for a sweeper.
   */
  private async wake(tasks: TaskRecord[]): Promise<void> {
    const now = Date.now();
    const local = this.writer.claiming && !this.broker.capabilities.wakesEveryInstance;
    const wakeUps = tasks.filter((t) => !local || t.runAt > now)
      .map((t) => ({ delayMs: Math.max(0, t.runAt - now) }));
    if (wakeUps.length === 0) return;
    await this.broker.notify(wakeUps).catch((error) =>
      log.warn("wake-up not sent: {error}", { error: String(error) })
    );
  }

  /** Checks a submission as `submit` would, storing nothing (InvalidTaskError when it would fail). */
  check(request: SubmitRequest): void {
    this.toNewTask(request, Date.now());
  }

  /**
   * Turns each request's `dependsOn` into task ids: an index names an earlier
   * item of this batch, an id must name a stored task (else the submit is a 400
   * naming the entry; so no cycle can be made).
   */
  private async linkDependencies(requests: SubmitRequest[], tasks: NewTask[]): Promise<void> {
    const invalid = (index: number, message: string, path: string) => {
      const error = new InvalidTaskError(message, [{ path, message }]);
      return requests.length > 1 ? error.forItem(index) : error;
    };
    const named = new Set<string>();
    requests.forEach((request, index) => {
      const entries = request.dependsOn ?? [];
      if (entries.length > MAX_DEPENDENCIES) {
        throw invalid(index, `a task may wait for at most ${MAX_DEPENDENCIES}`, "depends_on");
      }
      const ids = entries.map((entry, j) => {
        if (typeof entry === "string") {
          named.add(entry);
          return entry;
        }
        if (!Number.isInteger(entry) || entry < 0 || entry >= index) {
          throw invalid(
            index,
            `depends_on[${j}]: ${entry} is not an earlier item of this batch`,
            `depends_on.${j}`,
          );
        }
        return tasks[entry].id;
      });
      tasks[index].dependsOn = [...new Set(ids)];
    });
    if (named.size === 0) return;
    const found = new Set(await this.store.existing([...named]));
    requests.forEach((request, index) => {
      (request.dependsOn ?? []).forEach((entry, j) => {
        if (typeof entry === "string" && !found.has(entry)) {
          throw invalid(index, `depends_on[${j}]: no task with id '${entry}'`, `depends_on.${j}`);
        }
      });
    });
  }

  private toNewTask(request: SubmitRequest, now: number): NewTask {
    const definition = this.registry.require(request.type);
    const payload = this.registry.validatePayload(
      request.type,
      request.payload,
      this.options.services,
    );
    if (request.delayMs !== undefined && request.runAt !== undefined) {
      throw new InvalidTaskError("give delay_ms or run_at, not both", [
        { path: "run_at", message: "give delay_ms or run_at, not both" },
      ]);
    }
    const runAt = request.runAt ?? now + (request.delayMs ?? 0);
    if (runAt - now > MAX_DELAY_MS) {
      throw new InvalidTaskError("a task can be scheduled at most 30 days ahead", [
        { path: request.runAt === undefined ? "delay_ms" : "run_at", message: "at most 30 days" },
      ]);
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
      resultTtlMs: request.resultTtlMs ?? null,
      dependsOn: [],
      createdAt: now,
    };
  }

  /** The task, or TaskNotFoundError. */
  async get(id: string): Promise<TaskRecord> {
    const task = await this.store.get(id);
    if (!task) throw new TaskNotFoundError(id);
    return task;
  }

  /** Tasks newest first, with the total that matches. */
  list(filter: TaskFilter): Promise<{ tasks: TaskRecord[]; total: number }> {
    return this.store.list(filter);
  }

  /** A task's history after event id `afterId`, oldest first. */
  events(id: string, afterId = 0): Promise<TaskEvent[]> {
    return this.store.events(id, afterId);
  }

  /**
   * Calls `listener` whenever task `id` changes on this instance (changes made
   * elsewhere are seen by reading the store); returns the unsubscribe function.
   */
  subscribe(id: string, listener: () => void): () => void {
    return this.changes.subscribe(id, listener);
  }

  /** The tasks `id` waits for and the tasks that wait for it, with their statuses. */
  async links(id: string): Promise<TaskLinks> {
    await this.get(id);
    return this.store.links(id);
  }

  /** Replays every failed task matching `filter`, in chunks; resolves to how many. */
  retryMany(filter: Omit<TaskFilter, "limit" | "offset" | "statuses">): Promise<number> {
    return this.inChunks((n) => this.store.retryMany({ ...filter, limit: n, offset: 0 }, n));
  }

  /** Cancels every waiting or blocked task matching `filter`, in chunks; resolves to how many. */
  cancelMany(filter: Omit<TaskFilter, "limit" | "offset">): Promise<number> {
    return this.inChunks((n) =>
      this.store.cancelMany({ ...filter, limit: n, offset: 0 }, "cancelled in bulk", n)
    );
  }

  private async inChunks(step: (n: number) => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await step(BULK_CHUNK);
      total += n;
      if (n < BULK_CHUNK) break;
      await new Promise((resolve) => setTimeout(resolve, 1)); // let others write between chunks
    }
    if (total > 0 && this.writer.claiming) this.writer.fill();
    return total;
  }

  /** The limits set on task types (cluster-wide). */
  typeLimits(): Promise<TypeLimit[]> {
    return this.store.typeLimits();
  }

  /** Sets a type's limits; every instance applies them within LIMITS_REFRESH_MS. */
  async setTypeLimit(
    type: string,
    patch: { concurrency?: number | null; ratePerMinute?: number | null; paused?: boolean },
  ): Promise<TypeLimit> {
    this.registry.require(type);
    const current = (await this.store.typeLimits()).find((l) => l.type === type);
    const limit: TypeLimit = {
      type,
      concurrency: patch.concurrency !== undefined
        ? patch.concurrency
        : current?.concurrency ?? null,
      ratePerMinute: patch.ratePerMinute !== undefined
        ? patch.ratePerMinute
        : current?.ratePerMinute ?? null,
      paused: patch.paused ?? current?.paused ?? false,
      updatedAt: Date.now(),
    };
    await this.store.setTypeLimit(limit);
    await this.refreshLimits();
    if (this.writer.claiming) this.writer.fill();
    return limit;
  }

  /** Running tasks and starts in the last minute, per type (cluster-wide). */
  typeUsage(): Promise<TypeUsage[]> {
    return this.store.typeUsage(Date.now());
  }

  /**
   * Re-reads the limits; only limits that restrict anything are kept, so with
   * none set the claim is the plain one.
   */
  private async refreshLimits(): Promise<void> {
    try {
      this.limits = (await this.store.typeLimits()).filter((l) =>
        l.paused || l.concurrency !== null || l.ratePerMinute !== null
      );
    } catch (error) {
      log.warn("could not read the types' limits: {error}", { error: String(error) });
    }
  }

  /** How many live followers (subscriptions) are attached here now. */
  followers(): number {
    return this.changes.size;
  }

  /**
   * Cancels a task: a waiting one at once, a running one by aborting its signal
   * (here or, through `cancel_requested`, on the instance that runs it).
   * A finished task is a TaskConflictError.
   */
  async cancel(id: string): Promise<TaskRecord> {
    const outcome = await this.store.requestCancel(id, "cancelled before it ran");
    if (outcome === "missing") throw new TaskNotFoundError(id);
    const task = await this.get(id);
    if (outcome === "final") {
      throw new TaskConflictError(`task ${id} is already ${task.status}`, task.status);
    }
    if (outcome === "requested") this.pool.abortForCancel(id);
    this.changes.emit(id);
    return task;
  }

  /** Replays a failed or cancelled task from its first attempt. */
  async retry(id: string): Promise<TaskRecord> {
    const task = await this.store.replay(id);
    if (!task) {
      const current = await this.get(id);
      throw new TaskConflictError(
        `only failed or cancelled tasks can be retried; task ${id} is ${current.status}`,
        current.status,
      );
    }
    this.changes.emit(id);
    await this.wake([task]);
    if (this.writer.claiming) this.writer.fill();
    return task;
  }

  /**
   * The engine's part of the minute cron: a sweep (the sweeper's timer may be
   * asleep on Deploy) and, when the broker needs it, a bounded drain of ready
   * work, so queued tasks advance even with no HTTP traffic.
   */
  async minuteTick(drainMs = CRON_DRAIN_MS): Promise<void> {
    await this.sweeper.sweep();
    if (this.broker.capabilities.needsCronDrain) {
      const ran = await this.drain(drainMs);
      if (ran > 0) log.info("cron drain ran {ran} tasks", { ran });
    }
  }

  /** Runs ready tasks here until none is ready or `maxMs` has passed; resolves to how many. */
  private async drain(maxMs: number): Promise<number> {
    const deadline = Date.now() + maxMs;
    const opened = !this.writer.claiming;
    if (opened) {
      await this.refreshLimits();
      this.pool.start();
      this.writer.openClaims(this.pool);
    }
    let claimed = 0;
    try {
      while (Date.now() < deadline && !this.stopSignal.aborted) {
        claimed += await this.writer.fill();
        if (this.pool.inFlight === 0 && !(await this.store.hasReady(Date.now()))) break;
        await this.pool.slotFreed(Math.max(1, Math.min(250, deadline - Date.now())));
      }
    } finally {
      if (opened && !this.options.runsWorkers) this.writer.closeClaims();
    }
    return claimed;
  }

  /** Deletes ended tasks past TASK_RETENTION_DAYS or their own time to live, now. */
  applyRetention(): Promise<number> {
    const now = Date.now();
    const retentionMs = this.options.retentionDays * 86_400_000;
    return this.sweeper.purge(now, retentionMs > 0 ? now - retentionMs : null);
  }

  /** Counts by status, priority and type, and throughput since `since` (see COUNTS_REUSE_FACTOR). */
  counts(since: number): Promise<QueueCounts> {
    const now = Date.now();
    const cached = this.countsCache;
    if (cached && now < cached.until && cached.since <= since) return cached.counts;
    const started = performance.now();
    const counts = this.store.counts(since, now);
    this.countsCache = { until: now, since, counts };
    counts.then(() => {
      const tookMs = performance.now() - started;
      if (this.countsCache?.counts === counts) {
        this.countsCache.until = Date.now() +
          Math.min(
            COUNTS_REUSE_MAX_MS,
            tookMs < COUNTS_REUSE_FROM_MS ? 0 : tookMs * COUNTS_REUSE_FACTOR,
          );
      }
    }, () => {
      if (this.countsCache?.counts === counts) this.countsCache = null;
    });
    return counts;
  }

  /** Every live instance (this one first) with its role, driver and in-flight work. */
  instances() {
    return this.instanceRegistry.list();
  }

  /** The store's health and the sweeper's last error, for /health. */
  async health(): Promise<{ store: StoreHealth; sweeper: { ok: boolean; error?: string } }> {
    const store = await this.store.health().catch((error) => ({
      ok: false,
      can_write: false,
      error: error instanceof Error ? error.message : String(error),
    }));
    const sweeperError = this.sweeper.lastError;
    return {
      store,
      sweeper: sweeperError === null ? { ok: true } : { ok: false, error: sweeperError },
    };
  }
}
