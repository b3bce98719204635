/**
 * Wake-ups over LISTEN/NOTIFY on channel `fila_wakeups`. The triggers of
 * migration 0001 NOTIFY in the transaction of every change that leaves tasks
 * waiting, with the times they become due; this class LISTENs on a dedicated
 * connection (postgres.js keeps one for `listen`) and hands each time to its
 * subscribers as a delay.
 *
 * Reconnects: when the connection drops (PostgreSQL restarted, network), postgres.js
 * connects again with the pool's backoff (capped in connect.ts) and LISTENs again
 * by itself, calling `onlisten` each time. Notifications sent while it was away
 * are lost, so every `onlisten` is a reconnect to subscribers ("look for ready
 * work now") — the first one too: wake-ups sent before LISTEN took effect were
 * missed just the same.
 */
import { getLogger } from "@logtape/logtape";
import type postgres from "postgres";
import type { WakeupChannel, WakeupListener } from "../../tasks/engine/store.ts";

/** The channel the triggers NOTIFY (migration 0001). */
export const WAKEUP_CHANNEL = "fila_wakeups";
/** Due times travel rounded up to this grain (as the triggers round them). */
const GRAIN_MS = 10;

const log = getLogger(["fila", "db", "wakeups"]);

export type ListenState = "off" | "connecting" | "listening";

export class PgWakeupChannel implements WakeupChannel {
  readonly announcesChanges = true;
  private readonly listeners = new Set<WakeupListener>();
  private listening: Promise<void> | null = null;
  private unlisten: (() => Promise<unknown>) | null = null;
  private closed = false;
  /** Whether LISTEN took effect (once it has, postgres.js keeps it across reconnects). */
  state: ListenState = "off";

  constructor(private readonly sql: postgres.Sql) {}

  async publish(delaysMs: number[]): Promise<void> {
    if (delaysMs.length === 0) return;
    const now = Date.now();
    const due = [...new Set(delaysMs.map((d) => Math.ceil((now + d) / GRAIN_MS) * GRAIN_MS))]
      .sort((a, b) => a - b);
    await this.sql`select pg_notify(${WAKEUP_CHANNEL}, ${due.join(",")})`;
  }

  subscribe(listener: WakeupListener): () => void {
    this.listeners.add(listener);
    this.listening ??= this.listen();
    return () => {
      this.listeners.delete(listener);
    };
  }

  private async listen(): Promise<void> {
    this.state = "connecting";
    try {
      const { unlisten } = await this.sql.listen(
        WAKEUP_CHANNEL,
        (payload) => this.deliver(payload),
        () => this.listened(),
      );
      this.unlisten = unlisten;
    } catch (error) {
      // postgres.js retries LISTEN on its own once its connection comes back
      log.warn("LISTEN failed, retrying as the connection returns: {error}", {
        error: String(error),
      });
    }
  }

  private listened(): void {
    if (this.closed) return;
    if (this.state === "listening") log.info("wake-up channel listening again after a reconnect");
    this.state = "listening";
    for (const listener of this.listeners) listener.onReconnect();
  }

  private deliver(payload: string): void {
    const now = Date.now();
    for (const text of payload.split(",")) {
      const due = Number(text);
      if (!Number.isFinite(due)) continue;
      for (const listener of this.listeners) listener.onWake(Math.max(0, due - now));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.unlisten?.().catch(() => {});
    this.state = "off";
  }
}
