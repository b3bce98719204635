/**
 * The sweeper makes the engine independent of messages: every few seconds it
 * puts back tasks whose instance died (expired lease), lets this instance's
 * workers claim any ready task whether or not a wake-up ever arrived, and
 * deletes ended tasks past their time to live.
 */
import { getLogger } from "@logtape/logtape";
import type { RunningHere, TaskStore } from "./store.ts";

const log = getLogger(["fila", "sweeper"]);
/** The global retention (TASK_RETENTION_DAYS) is applied this often. */
const RETENTION_EVERY_MS = 3_600_000;
/** Tasks deleted per transaction: a purge never holds the write lock for long. */
const PURGE_CHUNK = 500;

export interface SweepReport {
  requeued: number;
  claimed: number;
  purged: number;
}

export class Sweeper {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<SweepReport> | null = null;
  private lastRetentionAt = 0;
  /** The last error of a sweep, or null after a good one (shown by /health). */
  lastError: string | null = null;

  constructor(
    private readonly store: TaskStore,
    /** Fills free worker slots (null on an instance without workers). */
    private readonly fill: (() => Promise<number>) | null,
    private readonly intervalMs: number,
    /** Ended tasks older than this are deleted (0 keeps them forever). */
    private readonly retentionMs: number,
    /** The tasks running here: never requeued by this instance, whatever their lease says. */
    private readonly runningHere: () => RunningHere,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.sweep(), this.intervalMs);
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
      const now = Date.now();
      const requeued = await this.store.requeueExpired(now, this.runningHere());
      if (requeued > 0) log.warn("requeued {requeued} tasks whose lease expired", { requeued });
      await this.store.promoteDue(now);
      // dependencies whose end was not seen where it happened (a late dependent, a lost instance)
      await this.store.resolveBlocked(now);
      const claimed = this.fill && await this.store.hasReady(now) ? await this.fill() : 0;
      const retention = this.retentionMs > 0 && now - this.lastRetentionAt >= RETENTION_EVERY_MS;
      if (retention) this.lastRetentionAt = now;
      const purged = await this.purge(now, retention ? now - this.retentionMs : null);
      if (purged > 0) log.info("deleted {purged} ended tasks past their time", { purged });
      this.lastError = null;
      return { requeued, claimed, purged };
    } catch (error) {
      this.lastError = String(error);
      log.error("sweep failed: {error}", { error: this.lastError });
      return { requeued: 0, claimed: 0, purged: 0 };
    }
  }

  /**
   * Deletes expired tasks chunk by chunk, yielding to the event loop between
   * chunks, so neither this instance nor a neighbour waits on one long delete.
   */
  async purge(now: number, retainedSince: number | null): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.store.purgeExpired(now, retainedSince, PURGE_CHUNK);
      total += n;
      if (n < PURGE_CHUNK) return total;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
