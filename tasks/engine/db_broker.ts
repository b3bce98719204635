/**
 * The `db` driver, for where KV has no queues (the new Deno Deploy, KV Connect):
 * no messages at all. Each instance claims from libSQL in a loop that backs off
 * while idle, and its own submits wake it at once.
 */
import type { Broker, WakeHandler, WakeUp } from "./broker.ts";

const MIN_IDLE_MS = 25;
const MAX_IDLE_MS = 1_000;

export class DbBroker implements Broker {
  readonly name = "db" as const;
  private handler: WakeHandler | null = null;
  private idleMs = MIN_IDLE_MS;
  private loopTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly delayed = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;

  notify(wakeUps: WakeUp[]): Promise<void> {
    if (!this.handler || this.closed) return Promise.resolve();
    let now = false;
    let soonest = Infinity;
    for (const w of wakeUps) {
      if (w.delayMs <= 0) now = true;
      else soonest = Math.min(soonest, w.delayMs);
    }
    if (now) this.wake();
    // Later tasks are caught by the idle loop too; a timer only makes them punctual.
    if (soonest !== Infinity && soonest < 60_000) {
      const timer = setTimeout(() => {
        this.delayed.delete(timer);
        this.wake();
      }, soonest);
      this.delayed.add(timer);
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

  close(): void {
    this.closed = true;
    clearTimeout(this.loopTimer);
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
  }
}
