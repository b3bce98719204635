/**
 * The stores the task types and routes need besides the engine's (quotes, the
 * outbox, sales), and the bundle `db/` builds once per database and `main.ts`
 * hands out. Like `TaskStore`, these are implemented in `db/`.
 */
import type { TaskStore } from "./engine/store.ts";

/** A quote reading from the upstream. */
export interface Quote {
  pair: string;
  code: string;
  codein: string;
  name: string;
  high: number;
  low: number;
  bid: number;
  ask: number;
  varBid: number | null;
  pctChange: number | null;
  /** Upstream reading time, epoch ms. */
  timestamp: number;
  /** ISO 8601 UTC. */
  createDate: string;
}

export interface StoredQuote extends Quote {
  id: number;
  createdAt: number;
  updatedAt: number;
}

export interface QuoteStore {
  /** Stores readings; a (pair, timestamp) already there only moves its updated_at. */
  upsert(readings: Quote[], now: number): Promise<StoredQuote[]>;
  latest(pair: string): Promise<StoredQuote | undefined>;
  /** Readings of a pair between two times (epoch ms), newest first. */
  history(
    pair: string,
    from: number | undefined,
    to: number | undefined,
    limit: number,
  ): Promise<StoredQuote[]>;
  /** Every reading of a pair in a month (YYYY-MM, UTC), oldest first. */
  month(pair: string, month: string): Promise<StoredQuote[]>;
  /** When the newest reading of any pair was stored (epoch ms), or null. */
  newestUpdate(): Promise<number | null>;
}

export interface MailAttachment {
  filename: string;
  contentType: string;
  content: string;
}

export interface NewMail {
  taskId: string | null;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string | null;
  attachments: MailAttachment[];
  createdAt: number;
}

export interface StoredMail extends NewMail {
  id: number;
}

export interface OutboxStore {
  add(mail: NewMail): Promise<StoredMail>;
  /** Newest first, with the total. */
  list(limit: number, offset: number): Promise<{ mails: StoredMail[]; total: number }>;
}

export interface Sale {
  dataset: string;
  date: string;
  region: string;
  product: string;
  quantity: number;
  unitPrice: number;
  amount: number;
}

export interface SalesStore {
  /** Forgets an earlier load of `dataset` (a file is loaded whole, again). */
  clearDataset(dataset: string): Promise<void>;
  insert(rows: Sale[]): Promise<void>;
  /** Orders and revenue of a region in a month (YYYY-MM), by day and the top products. */
  regionMonth(region: string, month: string): Promise<{
    byDay: { date: string; orders: number; revenue: number; quantity: number }[];
    byProduct: { product: string; orders: number; revenue: number }[];
  }>;
  /** Orders and revenue per region, all datasets. */
  byRegion(): Promise<{ region: string; orders: number; revenue: number }[]>;
  /** The regions and months (YYYY-MM) that have sales, for answers that found none. */
  coverage(): Promise<{ regions: string[]; months: string[] }>;
}

/** A recurring schedule as stored. */
export interface Schedule {
  name: string;
  cron: string;
  timezone: string;
  type: string;
  payload: unknown;
  /** A priority rank, or null for the type's default. */
  priority: number | null;
  maxAttempts: number | null;
  paused: boolean;
  builtin: boolean;
  /** The tick (epoch ms of its minute) it last ran for, and the task it submitted. */
  lastRunAt: number | null;
  lastTaskId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface ScheduleStore {
  list(): Promise<Schedule[]>;
  get(name: string): Promise<Schedule | undefined>;
  /** Creates or replaces (keeping created_at and the last run). */
  put(schedule: Omit<Schedule, "lastRunAt" | "lastTaskId">): Promise<Schedule>;
  /** false when there was none. */
  delete(name: string): Promise<boolean>;
  setPaused(name: string, paused: boolean, now: number): Promise<Schedule | undefined>;
  /** Records a run for tick `at` unless a later one is recorded already. */
  markRun(name: string, at: number, taskId: string): Promise<void>;
}

/** One database's stores, built by `db/open_store.ts`. */
export interface FilaStore {
  /** `libsql-file`, `libsql-remote` or `postgres`. */
  readonly kind: string;
  readonly tasks: TaskStore;
  readonly quotes: QuoteStore;
  readonly outbox: OutboxStore;
  readonly sales: SalesStore;
  readonly schedules: ScheduleStore;
  /** Background upkeep the store runs itself (libSQL files: WAL checkpoints), by name, for /health. */
  readonly upkeep: Record<string, () => { ok: boolean; error?: string }>;
  close(): Promise<void>;
}
