/**
 * Wake-ups over LISTEN/NOTIFY on channel `fila_wakeups`. The triggers of
 * migration 0001 NOTIFY in the transaction of every change that leaves tasks
 * waiting, with the times they become due; this class LISTENs on a connection
 * of its own and hands each time to its subscribers as a delay.
 *
 * Reconnects: when that connection ends (PostgreSQL restarted, network), it
 * connects again at once and then with a backoff capped at one second, and
 * LISTENs again. Notifications sent while it was away are lost, so each time
 * LISTEN takes effect -- the first time too: wake-ups sent before LISTEN took
 * effect were missed just the same -- subscribers hear `onReconnect` ("look for
 * ready work now") and, read from the store, the times the next waiting tasks
 * become due, as if announced again.
 *
 * A wake-up names the process whose write caused it (`<origin>:<due>,...`). The
 * process that stored or requeued a task has claimed what it could in the same
 * turn, and claims more as its slots free, so it skips its own wake-ups for
 * tasks due now (each would cost it a turn that finds nothing); its own delayed
 * ones still set its timers.
 */
// @ts-types="npm:@types/pg@^8.23.1"
import type pg from "pg";
import { getLogger } from "@logtape/logtape";
import type { WakeupChannel, WakeupListener } from "../../tasks/engine/store.ts";

/** The channel the triggers NOTIFY (migration 0001). */
export const WAKEUP_CHANNEL = "fila_wakeups";
/** Due times travel rounded up to this grain (as the triggers round them). */
const GRAIN_MS = 10;
/** How many due times a (re)connect reads back, as a NOTIFY carries at most (migration 0001). */
const DUE_TIMES = 20;
/** The next due times of waiting tasks after $1, per priority from the head of tasks_ready_idx. */
const NEXT_DUE_SQL = [0, 1, 2].map((priority) =>
  `(SELECT run_at FROM tasks WHERE status IN ('queued', 'scheduled', 'retrying')
    AND priority = ${priority} AND run_at > $1 ORDER BY run_at LIMIT ${DUE_TIMES})`
).join(" UNION ALL ");
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 1_000;

const log = getLogger(["fila", "db", "wakeups"]);

export type ListenState = "off" | "connecting" | "listening";

export class PgWakeupChannel implements WakeupChannel {
  readonly announcesChanges = true;
  private readonly listeners = new Set<WakeupListener>();
  private running: Promise<void> | null = null;
  private client: pg.Client | null = null;
  private closed = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private wakeRetry: (() => void) | null = null;
  /** Whether LISTEN is in force now (shown by /health). */
  state: ListenState = "off";

  constructor(
    /** The store's pool, for publishing. */
    private readonly pool: pg.Pool,
    /** This process's name in wake-ups (its pool's `fila.origin`). */
    private readonly origin: string,
    /** A new connection for LISTEN (its own: a pooled one is shared and may be closed). */
    private readonly connect: () => pg.Client,
  ) {}

  async publish(delaysMs: number[]): Promise<void> {
    if (delaysMs.length === 0) return;
    const now = Date.now();
    const due = [...new Set(delaysMs.map((d) => Math.ceil((now + d) / GRAIN_MS) * GRAIN_MS))]
      .sort((a, b) => a - b);
    // no origin: every instance acts on a published wake-up, this one too
    await this.pool.query("SELECT pg_notify($1, $2)", [WAKEUP_CHANNEL, `:${due.join(",")}`]);
  }

  subscribe(listener: WakeupListener): () => void {
    this.listeners.add(listener);
    this.running ??= this.listenForever();
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Keeps one connection LISTENing until close(). */
  private async listenForever(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      this.state = "connecting";
      const client = this.connect();
      const ended = new Promise<void>((resolve) => {
        client.on("error", () => {}); // followed by 'end', which is what this loop waits for
        client.on("end", () => resolve());
      });
      client.on("notification", (message) => {
        if (message.channel === WAKEUP_CHANNEL) this.deliver(message.payload ?? "");
      });
      try {
        await client.connect();
        this.client = client;
        if (this.closed) break;
        await client.query(`LISTEN ${WAKEUP_CHANNEL}`);
        if (failures > 0) log.info("wake-up channel listening again");
        failures = 0;
        this.state = "listening";
        for (const listener of this.listeners) listener.onReconnect();
        await this.announceNextDue().catch((error) =>
          log.warn("could not read the next due times (the sweeper will find them): {error}", {
            error: String(error),
          })
        );
        await ended;
        if (!this.closed) log.warn("wake-up channel lost its connection; reconnecting");
      } catch (error) {
        if (failures === 0 && !this.closed) {
          log.warn("wake-up channel cannot LISTEN, retrying: {error}", { error: String(error) });
        }
        failures++;
      } finally {
        this.client = null;
        await client.end().catch(() => {});
      }
      if (this.closed) break;
      // at once after a loss (the server may be back already), then doubling up to the cap
      const delay = failures === 0
        ? 0
        : Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** (failures - 1)) *
          (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => {
        this.wakeRetry = resolve;
        this.retryTimer = setTimeout(resolve, delay);
      });
      this.wakeRetry = null;
    }
    this.state = "off";
  }

  /** Tells subscribers when the next waiting tasks become due (what they may have missed). */
  private async announceNextDue(): Promise<void> {
    const now = Date.now();
    const { rows } = await this.pool.query({
      name: "fila_next_due",
      text: NEXT_DUE_SQL,
      values: [now],
    });
    const due = [...new Set(rows.map((r) => Math.ceil(Number(r.run_at) / GRAIN_MS) * GRAIN_MS))]
      .sort((a, b) => a - b).slice(0, DUE_TIMES);
    if (due.length > 0) this.deliver(`:${due.join(",")}`);
  }

  private deliver(payload: string): void {
    const now = Date.now();
    const colon = payload.indexOf(":");
    const mine = colon > 0 && payload.slice(0, colon) === this.origin;
    for (const text of payload.slice(colon + 1).split(",")) {
      const due = Number(text);
      if (!Number.isFinite(due) || (mine && due <= now)) continue;
      for (const listener of this.listeners) listener.onWake(Math.max(0, due - now));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    await this.client?.end().catch(() => {});
    await this.running;
  }
}
