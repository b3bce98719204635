/**
 * The `pg` driver: wake-ups over the store's own channel (`TaskStore.wakeups`,
 * PostgreSQL LISTEN/NOTIFY), so a submit on any instance wakes the workers of
 * every instance within milliseconds.
 *
 * The PostgreSQL store announces every change that leaves a task waiting from
 * inside the transaction that makes it (a trigger NOTIFYs at commit), so `notify`
 * sends nothing of its own there: the announcement cannot be lost between the
 * commit and a second message, and costs no round trip.
 *
 * Delayed tasks: each instance keeps the due times it heard of and one timer for
 * the soonest; the sweeper stays the safety net for anything missed (a wake-up
 * sent while an instance's LISTEN connection was down). After a reconnect the
 * channel says so, and the instance looks for ready work at once.
 */
import { type Broker, coalesce, type WakeHandler, type WakeUp } from "./broker.ts";
import type { WakeupChannel } from "./store.ts";

/** Due times kept per instance; later ones are left to the sweeper. */
const MAX_PENDING = 1_000;
/** setTimeout's limit (~24.8 days); a later time is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class PgBroker implements Broker {
  readonly name = "pg";
  readonly capabilities;
  private handler: WakeHandler | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Epoch ms of announced due times, soonest first. */
  private pending: number[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private closed = false;

  /**
   * `onDeploy`: on Deno Deploy an isolate may sleep between requests, timers and
   * LISTEN included, so the minute cron drains ready work there (needsCronDrain).
   */
  constructor(private readonly channel: WakeupChannel, onDeploy: boolean) {
    this.capabilities = { wakesEveryInstance: true, needsCronDrain: onDeploy };
  }

  notify(wakeUps: WakeUp[]): Promise<void> {
    // the store already announced these in the transaction that stored them
    if (this.channel.announcesChanges || this.closed) return Promise.resolve();
    return this.channel.publish(coalesce(wakeUps));
  }

  listen(handler: WakeHandler): void {
    if (this.handler) throw new Error("PgBroker.listen called twice");
    this.handler = handler;
    this.unsubscribe = this.channel.subscribe({
      onWake: (delayMs) => delayMs <= 0 ? this.wakeNow() : this.wakeAt(Date.now() + delayMs),
      // wake-ups were missed while the channel was away: whatever is ready, claim it now
      onReconnect: () => this.wakeNow(),
    });
  }

  /** Fills free slots now (overlapping calls share one run of the turn writer). */
  private wakeNow(): void {
    if (this.closed || !this.handler) return;
    this.handler().catch(() => 0);
  }

  private wakeAt(due: number): void {
    if (this.closed) return;
    const at = insertionIndex(this.pending, due);
    if (this.pending[at] === due) return;
    if (at >= MAX_PENDING) return;
    this.pending.splice(at, 0, due);
    if (this.pending.length > MAX_PENDING) this.pending.pop();
    this.arm();
  }

  /** One timer, for the soonest pending due time. */
  private arm(): void {
    const next = this.pending[0];
    if (next === undefined || next >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(
      () => this.fire(),
      Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now())),
    );
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    let due = 0;
    while (due < this.pending.length && this.pending[due] <= now) due++;
    this.pending.splice(0, due);
    if (due > 0) this.wakeNow();
    this.arm();
  }

  close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    this.pending = [];
    return Promise.resolve();
  }
}

/** Where `value` goes in the sorted `list` (binary search). */
function insertionIndex(list: number[], value: number): number {
  let low = 0, high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (list[mid] < value) low = mid + 1;
    else high = mid;
  }
  return low;
}
