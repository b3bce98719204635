/**
 * The `db` driver, for where KV has no queues (the new Deno Deploy, KV Connect):
 * no messages at all. Each instance claims from the store in a loop that backs
 * off while idle; its own submits wake it at once, delayed ones by timer.
 */
import { type Broker, coalesce, type WakeHandler, type WakeUp } from "./broker.ts";

const MIN_IDLE_MS = 25;
const MAX_IDLE_MS = 1_000;
/** Later tasks are caught by the idle loop; a timer only makes sooner ones punctual. */
const MAX_TIMER_MS = 60_000;

export class DbBroker implements Broker {
  readonly name = "db";
  readonly capabilities = { wakesEveryInstance: false, needsCronDrain: true };
  private handler: WakeHandler | null = null;
  private idleMs = MIN_IDLE_MS;
  private loopTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly delayed = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;

  notify(wakeUps: WakeUp[]): Promise<void> {
    if (!this.handler || this.closed) return Promise.resolve();
    for (const delay of coalesce(wakeUps)) {
      if (delay === 0) this.wake();
      else if (delay < MAX_TIMER_MS) {
        const timer = setTimeout(() => {
          this.delayed.delete(timer);
          this.wake();
        }, delay);
        this.delayed.add(timer);
      }
    }
    return Promise.resolve();
  }

  listen(handler: WakeHandler): void {
    if (this.handler) throw new Error("DbBroker.listen called twice");
    this.handler = handler;
    this.schedule(0);
  }

  /** Runs the handler now and restarts the idle backoff from its shortest step. */
  private wake(): void {
    this.idleMs = MIN_IDLE_MS;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.loopTimer);
    this.loopTimer = setTimeout(() => this.tick(), ms);
  }

  private async tick(): Promise<void> {
    const claimed = await this.handler!().catch(() => 0);
    this.idleMs = claimed > 0 ? MIN_IDLE_MS : Math.min(MAX_IDLE_MS, this.idleMs * 2);
    this.schedule(this.idleMs);
  }

  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.loopTimer);
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    return Promise.resolve();
  }
}
