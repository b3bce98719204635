/**
 * The broker carries wake-ups, never the truth: a message says "something may be
 * ready", and the claim decides what runs. Drivers are listed in `brokers.ts`.
 */

/** "Look for work in `delayMs`": wake-ups name no task; the claim picks the best ready one. */
export interface WakeUp {
  /** Milliseconds until a task is due (0 = now). */
  delayMs: number;
}

/** Fills free worker slots; resolves to the number of tasks claimed. */
export type WakeHandler = () => Promise<number>;

/** What a driver can and cannot do; the engine and the cron read these, not driver names. */
export interface BrokerCapabilities {
  /** A wake-up sent by one instance reaches the workers of every instance. */
  wakesEveryInstance: boolean;
  /** Nothing keeps a loop alive between requests where it runs (Deno Deploy): the minute cron drains ready work. */
  needsCronDrain: boolean;
}

export interface Broker {
  readonly name: string;
  readonly capabilities: BrokerCapabilities;
  /** Schedules wake-ups. Losing one delays work, never loses it (the sweeper looks anyway). */
  notify(wakeUps: WakeUp[]): Promise<void>;
  /** Starts delivering wake-ups to `handler`; called at most once per process. */
  listen(handler: WakeHandler): void;
  close(): Promise<void>;
}

/** Deno KV caps a message delay at 30 days; Fila caps every delay there. */
export const MAX_DELAY_MS = 30 * 86_400_000;

/**
 * Wake-ups due within this many ms of each other travel as one: a batch of 1,000
 * delayed tasks sends one message, not 1,000.
 */
export const WAKE_UP_GRAIN_MS = 10;

/** The distinct delays of `wakeUps`, rounded up to the grain, soonest first. */
export function coalesce(wakeUps: WakeUp[]): number[] {
  const delays = new Set<number>();
  for (const { delayMs } of wakeUps) {
    delays.add(Math.ceil(Math.max(0, delayMs) / WAKE_UP_GRAIN_MS) * WAKE_UP_GRAIN_MS);
  }
  return [...delays].sort((a, b) => a - b);
}
