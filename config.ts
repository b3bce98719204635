/**
 * The environment, parsed once by one zod schema. A bad value stops start-up
 * with a message naming the variable (see `loadConfig`).
 */
import { z } from "zod";
import { BROKER_NAMES } from "./tasks/engine/brokers.ts";
import { parseCron } from "./tasks/cron_expression.ts";
import { parseAllowList } from "./tasks/clients/outbound_fetch.ts";

const DAY_MS = 86_400_000;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A comma-separated list of hosts or host:port pairs; a bad entry is named. */
const allowList = z.string().optional().transform((text, ctx) => {
  try {
    return parseAllowList(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});
const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

export const configSchema = z.object({
  PORT: int(0, 65_535).default(8000),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z.string().regex(/^(file:|libsql:|https?:|wss?:|postgres(ql)?:\/\/)/, {
    message: "must start with file:, libsql:, http(s):, ws(s): or postgres(ql)://",
  }).default("file:./data/fila.db"),
  DATABASE_AUTH_TOKEN: z.string().optional(),
  /**
   * How long a write waits, in all, for a lock another process holds (waiting in
   * JavaScript, the event loop free), before it fails with 503.
   */
  DATABASE_LOCK_WAIT_MS: int(0, 600_000).default(10_000),
  /** Path of the local Deno KV file; unset on Deno Deploy, where KV is built in. */
  KV_PATH: z.string().optional(),
  QUEUE_DRIVER: z.string().refine((v) => v === "auto" || BROKER_NAMES.includes(v), {
    message: `must be auto or one of ${BROKER_NAMES.join(", ")}`,
  }).default("auto"),
  ROLE: z.enum(["all", "api", "worker"]).default("all"),
  WORKER_CONCURRENCY: int(1, 1_000).default(8),
  /** How long a claimed task stays owned by its instance without a heartbeat. */
  LEASE_MS: int(500, DAY_MS).default(30_000),
  /** Interval of the in-process sweeper (expired leases, ready work without a wake-up). */
  SWEEP_INTERVAL_MS: int(100, 600_000).default(2_000),
  /** On SIGTERM, how long running tasks get to finish before they are handed back. */
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
  RETRY_BASE_MS: int(1, DAY_MS).default(1_000),
  RETRY_MAX_MS: int(1, DAY_MS).default(300_000),
  QUOTE_PAIRS: z.string().default("USD-BRL,EUR-BRL,BTC-BRL")
    .transform((s) => s.split(",").map((p) => p.trim().toUpperCase()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[A-Z0-9]{2,10}-[A-Z0-9]{2,10}$/)).min(1)),
  QUOTES_API_URL: z.url().default("https://economia.awesomeapi.com.br/json/last/"),
  QUOTES_CRON: z.string().default("* * * * *").superRefine((value, ctx) => {
    try {
      parseCron(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
    }
  }),
  /** How long one upstream call may take. */
  QUOTES_TIMEOUT_MS: int(100, 60_000).default(5_000),
  /**
   * Bearer token every route but the probes requires. Any visible ASCII (punctuation
   * included) goes; a space or a non-ASCII character could not travel in a header.
   */
  API_TOKEN: z.string().min(1).regex(/^[\x21-\x7E]+$/, {
    message: "must be visible ASCII characters only (letters, digits, punctuation; no spaces)",
  }).optional(),
  /**
   * Hosts (`name`, `10.0.0.5`, `[fd00::1]`) or `host:port` pairs that tasks fetching URLs
   * (process_csv's `url`) may reach although they are loopback, private, link-local or
   * metadata addresses, which are refused otherwise. Comma-separated.
   */
  OUTBOUND_ALLOWED_HOSTS: allowList,
  /** The same setting under the name the `http` task type uses; both lists add up. */
  HTTP_TASK_ALLOWED_HOSTS: allowList,
  /**
   * The key `http` tasks sign their requests with (`Fila-Signature`), shared with the
   * receivers and by every instance. Unset: requests go unsigned (a warning at start).
   */
  HTTP_TASK_SECRET: z.string().min(16, {
    message: "must be at least 16 characters (e.g. the output of `openssl rand -hex 32`)",
  }).optional(),
  CORS_ORIGINS: z.string().optional(),
  SMTP_URL: z.string().optional(),
  MAIL_FROM: z.string().default("Fila <fila@localhost>"),
  TASK_RETENTION_DAYS: int(0, 3650).default(30),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warning", "error", "fatal"]).default("info"),
  LOG_FORMAT: z.enum(["pretty", "json"]).optional(),
  /** Set by Deno Deploy; its presence changes defaults and refuses a file: database. */
  DENO_DEPLOYMENT_ID: z.string().optional(),
  /** Run crons with Deno.cron (off in tests, which call the handlers directly). */
  CRON_ENABLED: bool.default(true),
}).superRefine((c, ctx) => {
  if (c.QUEUE_DRIVER === "pg" && !/^postgres(ql)?:/.test(c.DATABASE_URL)) {
    ctx.addIssue({
      code: "custom",
      path: ["QUEUE_DRIVER"],
      message:
        "the pg driver carries wake-ups over PostgreSQL: it needs DATABASE_URL=postgres://\u2026",
    });
  }
  if (c.DENO_DEPLOYMENT_ID && c.DATABASE_URL.startsWith("file:")) {
    ctx.addIssue({
      code: "custom",
      path: ["DATABASE_URL"],
      message: "a file: database is refused on Deno Deploy, where every instance would have its " +
        "own; use a postgres:// URL (PostgreSQL) or a libsql:// URL (Turso or sqld)",
    });
  }
}).transform((c) => ({
  ...c,
  OUTBOUND_ALLOWED_HOSTS: [...new Set([...c.OUTBOUND_ALLOWED_HOSTS, ...c.HTTP_TASK_ALLOWED_HOSTS])],
}));

export type Config = z.output<typeof configSchema>;

/** Raised when the environment does not parse; the message names every bad variable. */
export class ConfigError extends Error {}

/** A start-up step that failed because of a setting: one line naming the variable. */
export class StartupError extends Error {
  constructor(readonly variable: string, message: string, options?: ErrorOptions) {
    super(`${variable}: ${message}`, options);
    this.name = "StartupError";
  }
}

/** A URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][\w+.-]*:\/\/[^:/@]+):[^@/]*@/i, "$1:***@");
}

/**
 * Runs a start-up step that depends on `variable` (whose value is `shown`):
 * a failure becomes a StartupError naming it, with the reason and, for a
 * permission Deno refused, the flag that grants it.
 */
export async function startStep<T>(
  variable: string,
  shown: string,
  step: () => Promise<T> | T,
): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw startupError(variable, shown, error);
  }
}

/** `error` as the StartupError of the setting `variable` (whose value is `shown`). */
export function startupError(variable: string, shown: string, error: unknown): StartupError {
  return new StartupError(variable, `${shown}: ${describeFailure(error)}`, { cause: error });
}

function describeFailure(error: unknown): string {
  // wrappers (drizzle's "Failed query: ...") say less than what they wrap
  let root = error;
  while (root instanceof Error && root.cause instanceof Error) root = root.cause;
  const message = root instanceof Error ? root.message.split("\n")[0] : String(root);
  if (error instanceof Deno.errors.AddrInUse) return "the address is in use (another Fila?)";
  if (error instanceof Deno.errors.AddrNotAvailable) return "no such address on this machine";
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return `${message}. \`deno task start\` may write under ./data only (--allow-write=./data): ` +
      "keep files there, or run with --allow-write=<their folder>";
  }
  return message;
}

/** Parses an environment (by default the process's) into a Config or throws ConfigError. */
export function loadConfig(env: Record<string, string | undefined> = Deno.env.toObject()): Config {
  // An empty variable means "unset", as in most twelve-factor tools.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ""));
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}

/** KV path: the configured one, Deploy's built-in store, or the local default. */
export function resolveKvPath(config: Config): string | undefined {
  if (config.KV_PATH) return config.KV_PATH;
  return config.DENO_DEPLOYMENT_ID ? undefined : "./data/kv.sqlite";
}
