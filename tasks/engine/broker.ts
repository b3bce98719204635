/**
 * The broker carries wake-ups, never the truth: a message says "something may be
 * ready", and the claim query decides what runs. Two drivers share this interface.
 */

export interface WakeUp {
  id: string;
  /** Milliseconds until the task is due (0 = now). */
  delayMs: number;
}

/** Fills free worker slots; resolves to the number of tasks claimed. */
export type WakeHandler = () => Promise<number>;

export interface Broker {
  readonly name: "kv" | "db";
  /** Schedules wake-ups for newly due tasks. Losing one delays work, never loses it. */
  notify(wakeUps: WakeUp[]): Promise<void>;
  /** Starts delivering wake-ups to `handler`; called at most once per process. */
  listen(handler: WakeHandler): void;
  close(): void;
}

/** Deno KV caps a message delay at 30 days. */
export const MAX_DELAY_MS = 30 * 86_400_000;
