/**
 * The sweeper makes the engine independent of messages: every few seconds it
 * puts back tasks whose instance died (expired lease) and lets this instance's
 * workers claim any ready task, whether or not a wake-up ever arrived.
 */
import { getLogger } from "@logtape/logtape";
import type { TasksRepository } from "../../db/tasks_repository.ts";
import type { WorkerPool } from "./worker_pool.ts";

const log = getLogger(["fila", "sweeper"]);
const PURGE_EVERY_MS = 3_600_000;

export interface SweepReport {
  requeued: number;
  claimed: number;
}

export class Sweeper {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<SweepReport> | null = null;
  /** The last error of a sweep, or null after a good one (shown by /health). */
  lastError: string | null = null;
  lastSweepAt: number | null = null;

  constructor(
    private readonly repo: TasksRepository,
    private readonly pool: WorkerPool,
    private readonly intervalMs: number,
    /** Finished tasks older than this are deleted (0 keeps them forever). */
    private readonly retentionMs = 0,
  ) {}
  private lastPurgeAt = 0;

  start(): void {
    this.timer = setInterval(() => this.sweep(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass; overlapping calls share the pass in progress. */
  sweep(): Promise<SweepReport> {
    this.running ??= this.pass().finally(() => this.running = null);
    return this.running;
  }

  private async pass(): Promise<SweepReport> {
    try {
      const requeued = await this.repo.requeueExpired();
      if (requeued > 0) log.warn("requeued {requeued} tasks whose lease expired", { requeued });
      await this.repo.promoteDue();
      const claimed = await this.repo.hasReady() ? await this.pool.fill() : 0;
      if (this.retentionMs > 0 && Date.now() - this.lastPurgeAt > PURGE_EVERY_MS) {
        this.lastPurgeAt = Date.now();
        const purged = await this.repo.purgeFinished(Date.now() - this.retentionMs);
        if (purged > 0) log.info("deleted {purged} finished tasks past retention", { purged });
      }
      this.lastError = null;
      this.lastSweepAt = Date.now();
      return { requeued, claimed };
    } catch (error) {
      this.lastError = String(error);
      log.error("sweep failed: {error}", { error: this.lastError });
      return { requeued: 0, claimed: 0 };
    }
  }
}
