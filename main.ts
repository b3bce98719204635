/**
 * Composition root: config -> store -> kv -> broker -> engine -> app -> cron -> serve.
 * The one place that builds concrete things and hands them to each other.
 * `deno task dev` runs this file; tests call `startFila` to get a real instance.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  configure,
  getConsoleSink,
  getLogger,
  jsonLinesFormatter,
  type Sink,
} from "@logtape/logtape";
import {
  type Config,
  ConfigError,
  loadConfig,
  redactUrl,
  resolveKvPath,
  startStep,
  StartupError,
  startupError,
} from "./config.ts";
import { openStore } from "./db/open_store.ts";
import { createApp, type FilaApp } from "./routes/app.ts";
import { dashboardRouter } from "./routes/dashboard/dashboard.ts";
import type { HealthCheck } from "./routes/health.ts";
import { FilaMetrics } from "./routes/metrics.ts";
import { Mailer } from "./tasks/clients/mailer.ts";
import { literalHostRefusal, outboundFetch } from "./tasks/clients/outbound_fetch.ts";
import { QuotesService } from "./tasks/clients/quotes_service.ts";
import { createBroker } from "./tasks/engine/brokers.ts";
import { Engine } from "./tasks/engine/engine.ts";
import type { TaskDefinition } from "./tasks/engine/task_definition.ts";
import { registerMinuteCron, Scheduler } from "./tasks/scheduler.ts";
import { quoteRefreshSchedule } from "./tasks/types/refresh_quotes.ts";
import type { TaskServices } from "./tasks/services.ts";
import type { FilaStore } from "./tasks/stores.ts";
import { taskTypes } from "./tasks/types/registry.ts";
import denoJson from "./deno.json" with { type: "json" };

export const VERSION: string = (denoJson as { version?: string }).version ?? "0.0.0";

export interface StartOptions {
  /** Task types beyond the registry's (tests add their own). */
  extraTaskTypes?: TaskDefinition[];
  /** Listen for HTTP (default: yes; ROLE=worker serves probes only). */
  serve?: boolean;
  /** Services beyond Fila's own, for the extra task types (tests record what ran through one). */
  extraServices?: Record<string, unknown>;
}

export interface FilaInstance {
  config: Config;
  instanceId: string;
  store: FilaStore;
  kv: Deno.Kv;
  engine: Engine;
  scheduler: Scheduler;
  quotes: QuotesService;
  app: FilaApp;
  /** The bound port, when serving. */
  port: number | null;
  url: string | null;
  /** Graceful stop: HTTP first, then workers (with the configured grace), then handles. */
  stop(graceMs?: number): Promise<void>;
}

const log = getLogger(["fila"]);

/** Configures LogTape once per process: pretty lines in a terminal, JSON lines otherwise. */
export async function configureLogging(
  config: Config,
  extraSinks: Record<string, Sink> = {},
): Promise<void> {
  const json = (config.LOG_FORMAT ?? (Deno.stdout.isTerminal() ? "pretty" : "json")) === "json";
  await configure({
    reset: true,
    // implicit contexts: a request's id follows everything logged while handling it
    contextLocalStorage: new AsyncLocalStorage(),
    sinks: {
      console: getConsoleSink(json ? { formatter: jsonLinesFormatter } : {}),
      ...extraSinks,
    },
    loggers: [
      {
        category: ["fila"],
        lowestLevel: config.LOG_LEVEL,
        sinks: ["console", ...Object.keys(extraSinks)],
      },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}

function makeInstanceId(): string {
  let host = "local";
  try {
    host = Deno.hostname();
  } catch { /* no --allow-sys: keep the placeholder */ }
  return `${host}-${Deno.pid}-${crypto.randomUUID().slice(0, 4)}`;
}

/** Starts one Fila instance (API, workers and sweeper as its ROLE says). */
export async function startFila(config: Config, options: StartOptions = {}): Promise<FilaInstance> {
  const startedAt = Date.now();
  const instanceId = makeInstanceId();
  const store = await startStep(
    "DATABASE_URL",
    redactUrl(config.DATABASE_URL),
    () =>
      openStore(config.DATABASE_URL, {
        authToken: config.DATABASE_AUTH_TOKEN,
        lockWaitMs: config.DATABASE_LOCK_WAIT_MS,
      }),
  );
  const kvPath = resolveKvPath(config);
  const kv = await startStep("KV_PATH", kvPath ?? "Deno Deploy's KV", () => Deno.openKv(kvPath))
    .catch(async (error) => {
      await store.close();
      throw error;
    });
  const broker = createBroker(config.QUEUE_DRIVER, {
    kv,
    store: store.tasks,
    onDeploy: config.DENO_DEPLOYMENT_ID !== undefined,
    remoteKv: config.KV_PATH?.startsWith("http") ?? false,
  });
  const types = [...taskTypes, ...(options.extraTaskTypes ?? [])] as TaskDefinition[];
  const runsWorkers = config.ROLE !== "api";

  // the quotes service asks the engine for the last refresh; the engine is built below
  const engineRef: { current?: Engine } = {};
  const quotes = new QuotesService(
    store.quotes,
    async () =>
      (await engineRef.current?.list({ type: "refresh_quotes", limit: 1, offset: 0 }))?.tasks[0],
    config.QUOTE_PAIRS,
    { baseUrl: config.QUOTES_API_URL, timeoutMs: config.QUOTES_TIMEOUT_MS },
  );
  const mailer = new Mailer(config.SMTP_URL, config.MAIL_FROM, store.outbox);
  const services: TaskServices = {
    quotes,
    mailer,
    sales: store.sales,
    taskCounts: () => store.tasks.countByTypeAndStatus(),
    fetch: (url, init) => outboundFetch(url, init, { allowedHosts: config.OUTBOUND_ALLOWED_HOSTS }),
    literalUrlRefusal: (url) => literalHostRefusal(url, config.OUTBOUND_ALLOWED_HOSTS),
    httpTaskSecret: config.HTTP_TASK_SECRET ?? null,
    ...options.extraServices,
  };
  if (runsWorkers && config.HTTP_TASK_SECRET === undefined) {
    log.warn(
      "HTTP_TASK_SECRET is not set: http tasks are sent without a Fila-Signature header, " +
        "so receivers cannot tell Fila's requests from anyone else's",
    );
  }
  const metrics = new FilaMetrics({
    counts: (since) => engineRef.current!.counts(since),
    followers: () => engineRef.current?.followers() ?? 0,
    quotes,
    typeNames: new Set(types.map((t) => t.type)),
  });
  const engine = engineRef.current = new Engine({
    store: store.tasks,
    broker,
    kv,
    taskTypes: types,
    services,
    workerId: instanceId,
    role: config.ROLE,
    runsWorkers,
    concurrency: config.WORKER_CONCURRENCY,
    leaseMs: config.LEASE_MS,
    sweepIntervalMs: config.SWEEP_INTERVAL_MS,
    retryBaseMs: config.RETRY_BASE_MS,
    retryMaxMs: config.RETRY_MAX_MS,
    retentionDays: config.TASK_RETENTION_DAYS,
    hooks: metrics.engineHooks(),
  });

  const scheduler = new Scheduler(store.schedules, engine, [
    quoteRefreshSchedule(config.QUOTES_CRON),
  ]);
  await startStep("QUOTES_CRON", config.QUOTES_CRON, () => scheduler.install());

  const healthChecks: HealthCheck[] = [
    {
      name: "db",
      critical: true,
      run: async () => ({ ...(await engine.health()).store, store: store.kind }),
    },
    {
      name: "kv",
      critical: true,
      run: async () => {
        await kv.get(["fila", "health"]);
        return { ok: true, driver: engine.brokerName };
      },
    },
    {
      name: "quotes",
      critical: false,
      run: async () => {
        const [newest, lastError] = await Promise.all([
          quotes.newestUpdate(),
          quotes.lastRefreshError(),
        ]);
        const ageS = newest === null ? null : Math.round((Date.now() - newest) / 1000);
        return {
          ok: newest !== null && lastError === null,
          newest_age_s: ageS,
          last_refresh_error: lastError,
          ...(newest === null ? { error: "no quote stored yet" } : {}),
        };
      },
    },
    {
      name: "sweeper",
      critical: false,
      run: async () => (await engine.health()).sweeper,
    },
    ...Object.entries(store.upkeep).map(([name, check]) => ({
      name,
      critical: false,
      run: () => Promise.resolve(check()),
    })),
  ];
  const app = createApp({
    engine,
    scheduler,
    quotes,
    mailer,
    healthChecks,
    metrics,
    apiToken: config.API_TOKEN,
    probesOnly: config.ROLE === "worker",
    dashboard: config.ROLE === "worker" ? undefined : await dashboardRouter(VERSION),
    corsOrigins: config.CORS_ORIGINS,
    version: VERSION,
    instance: instanceId,
    startedAt,
  });

  let server: Deno.HttpServer | null = null;
  // every role listens: a worker answers /health and /metrics only
  if (options.serve ?? true) {
    try {
      server = Deno.serve(
        { port: config.PORT, hostname: config.HOST, onListen: () => {} },
        app.fetch,
      );
    } catch (error) {
      kv.close();
      await store.close();
      const variable = error instanceof Deno.errors.AddrInUse ? "PORT" : "HOST";
      throw startupError(variable, `${config.HOST}:${config.PORT}`, error);
    }
  }
  engine.start();
  const port = server ? (server.addr as Deno.NetAddr).port : null;
  const url = server
    ? `http://${config.HOST.includes(":") ? `[${config.HOST}]` : config.HOST}:${port}`
    : null;
  log.info(
    `Fila ${VERSION} up: ${config.ROLE} role, ${engine.brokerName} driver, ${store.kind} store, ` +
      `${runsWorkers ? config.WORKER_CONCURRENCY : 0} workers${url ? ` on ${url}` : ""}`,
    { instance: instanceId },
  );

  let stopping: Promise<void> | null = null;
  const stop = (graceMs = config.SHUTDOWN_GRACE_MS) =>
    stopping ??= (async () => {
      engine.beginStop();
      await server?.shutdown();
      await engine.stop(graceMs);
      mailer.close();
      kv.close();
      await store.close();
    })();

  return { config, instanceId, store, kv, engine, scheduler, quotes, app, port, url, stop };
}

/** Stops the process with one line saying what is wrong: no stack trace for a setting. */
function exitWith(error: unknown): never {
  const known = error instanceof ConfigError || error instanceof StartupError;
  const message = error instanceof Error ? error.message : String(error);
  console.error(known ? `fila: ${message}` : `fila: could not start: ${message.split("\n")[0]}`);
  Deno.exit(1);
}

if (import.meta.main) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    exitWith(error);
  }
  await configureLogging(config);
  const running: { instance?: FilaInstance } = {};
  const cron = config.CRON_ENABLED && config.ROLE !== "api";
  // Deno.cron is registered at the top level, before serving, as Deno Deploy requires.
  if (cron) registerMinuteCron(() => running.instance);
  const instance = running.instance = await startFila(config).catch(exitWith);
  if (cron) {
    // a minute missed while every instance was down runs once, now
    await instance.scheduler.tick();
    // a newcomer should see a quote within seconds, not at the next minute
    if (!(await instance.quotes.newestUpdate())) await instance.scheduler.trigger("refresh_quotes");
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      log.info("{signal}: stopping (grace {graceMs} ms)", {
        signal,
        graceMs: config.SHUTDOWN_GRACE_MS,
      });
      instance.stop().then(() => Deno.exit(0), () => Deno.exit(1));
    });
  }
}
