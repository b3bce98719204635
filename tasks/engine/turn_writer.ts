/**
 * The engine's one write path for the hot changes. Submissions, the ends of
 * attempts and the claims of an instance that are asked for in the same turn of
 * the event loop go to the store together, in one transaction (`TaskStore.turn`):
 * 32 single submissions that arrived at once cost one commit, not 32, and a
 * task submitted while a worker slot is free is claimed in the transaction that
 * stores it.
 */
import { getLogger } from "@logtape/logtape";
import { setImmediate } from "node:timers";
import type { TaskRecord, TypeLimit } from "./model.ts";
import type { AttemptEnd, Inserted, NewTask, TaskStore } from "./store.ts";

/** Where claimed tasks go: the worker pool of this instance. */
export interface ClaimTarget {
  /** Slots free now (tasks whose end is being written still hold theirs). */
  freeSlots(): number;
  launch(task: TaskRecord): void;
}

interface Pending<I, O> {
  item: I;
  resolve(out: O): void;
  reject(error: unknown): void;
  /** For an end whose write failed: when its caller stops waiting (its lease is gone by then). */
  giveUpAt?: number;
  /** An end its caller gave up on, still written when the store answers again (see retryEnds). */
  late?: boolean;
}

const log = getLogger(["fila", "engine"]);
/** Ends that could not be written are tried again after this, doubling up to the cap. */
const END_RETRY_MIN_MS = 50;
const END_RETRY_MAX_MS = 2_000;

export class TurnWriter {
  private inserts: Pending<NewTask[], Inserted[]>[] = [];
  private ends: Pending<AttemptEnd, boolean>[] = [];
  private target: ClaimTarget | null = null;
  private claimsOpen = false;
  private running: Promise<number> | null = null;
  private pokedWhileRunning = false;
  private scheduled = false;
  private endRetryMs = END_RETRY_MIN_MS;
  private endRetryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Tasks whose attempt ended here but whose end is still to be written (see retryEnds). */
  private readonly lateEndIds = new Set<string>();

  constructor(
    private readonly store: TaskStore,
    private readonly claimer: {
      workerId: string;
      leaseMs: number;
      /** The types' limits in force (read by the engine, refreshed every second). */
      limits: () => TypeLimit[];
    },
  ) {}

  /** From now on, turns claim ready tasks into `target`'s free slots. */
  openClaims(target: ClaimTarget): void {
    this.target = target;
    this.claimsOpen = true;
  }

  /** No more claims (shutdown); writes still go through. */
  closeClaims(): void {
    this.claimsOpen = false;
  }

  get claiming(): boolean {
    return this.claimsOpen;
  }

  /** Stores tasks in the next turn, all or nothing with the rest of that turn. */
  insert(tasks: NewTask[]): Promise<Inserted[]> {
    return this.enqueue(this.inserts, tasks);
  }

  /** Records how an attempt ended in the next turn; false when it was no longer ours. */
  end(end: AttemptEnd, giveUpAfterMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.ends.push({ item: end, resolve, reject, giveUpAt: Date.now() + giveUpAfterMs });
      this.schedule();
    });
  }

  /**
   * Runs turns until there is nothing to write and no free slot to fill;
   * resolves to how many tasks were claimed. Overlapping calls share the run.
   */
  fill(): Promise<number> {
    if (this.running) {
      this.pokedWhileRunning = true;
      return Promise.resolve(0);
    }
    this.running = this.loop().finally(() => {
      this.running = null;
      // a slot freed (or a write arrived) between the loop's last look and now
      if (this.pokedWhileRunning) this.fill();
    });
    return this.running;
  }

  /**
   * The tasks whose attempt ended here but whose end is not written yet: still
   * this instance's, however long ago their lease ran out.
   */
  endsOwed(): string[] {
    return [...this.lateEndIds];
  }

  /** Resolves once no turn is running (shutdown waits for the last writes). */
  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => 0);
  }

  private enqueue<I, O>(queue: Pending<I, O>[], item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /**
   * The next turn runs after this turn of the event loop, so the writes asked
   * for in it go together. setImmediate, not setTimeout(0): chained timers are
   * clamped to 1-4 ms, which left workers idle between turns.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.fill();
    });
  }

  private async loop(): Promise<number> {
    let claimed = 0;
    do {
      this.pokedWhileRunning = false;
      for (;;) {
        const inserts = this.inserts;
        const ends = this.ends;
        this.inserts = [];
        this.ends = [];
        // the slots of ends written now free up (not those of late ends: freed already)
        const ending = ends.filter((p) => !p.late).length;
        const free = this.claimsOpen && this.target ? this.target.freeSlots() + ending : 0;
        if (free <= 0 && ends.length === 0 && inserts.length === 0) break;
        let rows: TaskRecord[];
        try {
          const result = await this.store.turn({
            inserts: inserts.flatMap((p) => p.item),
            ends: ends.map((p) => p.item),
            claim: free > 0
              ? {
                workerId: this.claimer.workerId,
                limit: free,
                leaseMs: this.claimer.leaseMs,
                limits: this.claimer.limits(),
              }
              : null,
          });
          let at = 0;
          for (const p of inserts) {
            p.resolve(result.inserted.slice(at, at + p.item.length));
            at += p.item.length;
          }
          ends.forEach((p, i) => p.resolve(result.ended[i]));
          rows = result.claimed;
          this.endRetryMs = END_RETRY_MIN_MS;
        } catch (error) {
          // Submitters get the error (nothing of theirs was stored). An end is
          // kept and written again later: the attempt ran, and a refused write
          // must not cost it another run while its lease holds.
          for (const p of inserts) p.reject(error);
          this.retryEnds(ends, error);
          log.warn("turn failed: {error}", { error: String(error) });
          return claimed;
        }
        // not one of these may throw: the tasks are claimed, only a recorded end releases them
        for (const row of rows) this.target!.launch(row);
        claimed += rows.length;
        if (rows.length < free && this.inserts.length === 0 && this.ends.length === 0) break;
      }
    } while (this.pokedWhileRunning);
    return claimed;
  }

  private retryEnds(ends: Pending<AttemptEnd, boolean>[], error: unknown): void {
    const now = Date.now();
    for (const p of ends) {
      if (p.late || (p.giveUpAt !== undefined && now < p.giveUpAt)) {
        this.ends.push(p);
        continue;
      }
      p.reject(error);
      // The attempt is over, but its task is still running in the store under this worker. Its
      // end is still written once the store answers (endsOwed keeps this instance's sweeper off
      // the task meanwhile, so the attempt does not run again); fenced, it is refused if another
      // instance has requeued the task in between.
      const id = p.item.id;
      this.lateEndIds.add(id);
      const settled = () => this.lateEndIds.delete(id);
      this.ends.push({ item: p.item, resolve: settled, reject: settled, late: true });
    }
    if (this.ends.length === 0 || this.endRetryTimer !== undefined) return;
    this.endRetryTimer = setTimeout(() => {
      this.endRetryTimer = undefined;
      this.fill();
    }, this.endRetryMs);
    this.endRetryMs = Math.min(END_RETRY_MAX_MS, this.endRetryMs * 2);
  }

  /** Stops retrying writes (the process is going away). */
  close(): void {
    clearTimeout(this.endRetryTimer);
    this.endRetryTimer = undefined;
  }
}
