/**
 * Real Fila instances for tests: a real server on a free port over a real store
 * (a libSQL file in a temp dir, or a database of a throw-away PostgreSQL cluster)
 * and a real KV file, in this process (`startTestFila`) or in a child process
 * that can be killed (`spawnFila`).
 *
 * Tests that run on several stores loop over `storeCombos()`; calling it at the
 * top level of a test file also starts one PostgreSQL cluster for that file
 * (before its first test, stopped after its last), and every test directory then
 * gets a database of its own there (`databaseUrl`): instances started on the
 * same `dir` share it, as they share a libSQL file.
 */
import { loadConfig } from "../../config.ts";
import { type FilaInstance, startFila, VERSION } from "../../main.ts";
import { buildOpenApiDocument } from "../../routes/docs.ts";
import { contractFetch, type ContractInit, loadContract } from "./contract.ts";
import type { TaskDefinition } from "../../tasks/engine/task_definition.ts";
// @ts-types="npm:@types/pg@^8.23.1"
import pg from "pg";
import { openPostgresStore } from "../../db/postgres/connect.ts";
import { type PostgresCluster, startPostgres } from "./postgres.ts";
import { openSql, type SqlClient } from "./sql.ts";
import { testTaskTypes } from "./test_task_types.ts";

/** A parsed JSON answer: tests assert on its shape, so it is left loose on purpose. */
// deno-lint-ignore no-explicit-any
export type Json = any;

export type Driver = "kv" | "db" | "pg";
export const DRIVERS: Driver[] = ["kv", "db"];
export type Store = "libsql" | "postgres";

/** A store and the broker driver run with it. */
export interface StoreCombo {
  store: Store;
  driver: Driver;
  /** `libsql/kv`, …: what test names show. */
  name: string;
}

const ALL_COMBOS: StoreCombo[] = [
  { store: "libsql", driver: "kv", name: "libsql/kv" },
  { store: "libsql", driver: "db", name: "libsql/db" },
  { store: "postgres", driver: "pg", name: "postgres/pg" },
];

/**
 * The combinations a parametrised test runs on: all of them, or those named
 * (`"libsql/kv"`, `"postgres/pg"`, …). `FILA_TEST_STORES=libsql` (or `postgres`)
 * keeps one store's. Call it at a test file's top level: when PostgreSQL is among
 * them, it starts the file's cluster.
 */
export function storeCombos(...names: string[]): StoreCombo[] {
  const only = Deno.env.get("FILA_TEST_STORES")?.split(",").map((s) => s.trim());
  const combos = ALL_COMBOS.filter((c) =>
    (names.length === 0 || names.includes(c.name)) && (!only || only.includes(c.store))
  );
  if (combos.some((c) => c.store === "postgres")) usePostgres();
  return combos;
}

let cluster: PostgresCluster | null = null;
let clusterHooked = false;
const databases = new Map<string, Promise<string>>();
/** A migrated database that test databases are copied from (faster than createdb + migrating). */
const TEMPLATE = "fila_template";
let template: Promise<void> | null = null;
let databaseCount = 0;

/** Starts this test file's PostgreSQL cluster before its first test and stops it after the last. */
export function usePostgres(): void {
  if (clusterHooked) return;
  clusterHooked = true;
  Deno.test.beforeAll(async () => {
    cluster = await startPostgres();
  });
  Deno.test.afterAll(async () => {
    await cluster?.stop();
    cluster = null;
    template = null;
  });
}

/** This test file's PostgreSQL cluster (see usePostgres). */
export function postgresCluster(): PostgresCluster {
  if (!cluster) throw new Error("no PostgreSQL cluster: call storeCombos() or usePostgres() first");
  return cluster;
}

/** The database of a test directory: its libSQL file, or a PostgreSQL database made for it once. */
export function databaseUrl(store: Store, dir: string): Promise<string> {
  if (store === "libsql") return Promise.resolve(`file:${dir}/fila.db`);
  let url = databases.get(dir);
  if (!url) {
    url = migratedDatabase();
    databases.set(dir, url);
  }
  return url;
}

/**
 * A new PostgreSQL database with Fila's schema, copied from a template migrated
 * once per cluster. (A test of migrations themselves makes its own with
 * `postgresCluster().createDatabase()`.)
 */
async function migratedDatabase(): Promise<string> {
  const owner = postgresCluster();
  template ??= (async () => {
    const store = await openPostgresStore(await owner.createDatabase(TEMPLATE));
    await store.close(); // a template is copied only while nobody is connected to it
  })();
  await template;
  const name = `test_${++databaseCount}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: owner.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE}`);
  } finally {
    await admin.end();
  }
  return owner.url.replace(/\/[^/]*$/, `/${name}`);
}

/** testEnv for a combination: its driver, and its store's database for `dir`. */
export async function comboEnv(combo: StoreCombo, dir: string): Promise<Record<string, string>> {
  return { ...testEnv(dir, combo.driver), DATABASE_URL: await databaseUrl(combo.store, dir) };
}

export interface TestFila {
  url: string;
  dir: string;
  instance: FilaInstance;
  /**
   * fetch against the instance; `path` starts with "/". Each exchange is checked
   * against the instance's OpenAPI document (see contract.ts); `contract: false`
   * sends one unchecked.
   */
  fetch(path: string, init?: ContractInit): Promise<Response>;
  /** POST JSON and parse the JSON answer. */
  post(
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: Json }>;
  get(path: string): Promise<{ status: number; body: Json }>;
  /** Plain SQL on the instance's database (a separate connection, closed by stop). */
  sql: SqlClient;
  /** Polls GET /tasks/:id until `predicate` holds (default: a final status). */
  waitForTask(id: string, predicate?: (task: Json) => boolean, timeoutMs?: number): Promise<Json>;
  stop(): Promise<void>;
}

export interface TestFilaOptions {
  /** The store (default libsql); `postgres` needs storeCombos() or usePostgres() in the file. */
  store?: Store;
  driver?: Driver;
  env?: Record<string, string>;
  extraTaskTypes?: TaskDefinition[];
  /** Reuse a folder (several instances on the same files); a fresh temp dir otherwise. */
  dir?: string;
  /** Remove the folder on stop (default: when it was made here). */
  removeDir?: boolean;
}

/** Environment every test instance starts from; tests override what they need. */
export function testEnv(dir: string, driver: Driver = "kv"): Record<string, string> {
  return {
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: `file:${dir}/fila.db`,
    KV_PATH: `${dir}/kv.sqlite`,
    QUEUE_DRIVER: driver,
    CRON_ENABLED: "false",
    LOG_LEVEL: "error",
    SWEEP_INTERVAL_MS: "250",
    LEASE_MS: "5000",
    RETRY_BASE_MS: "50",
    RETRY_MAX_MS: "2000",
    SHUTDOWN_GRACE_MS: "2000",
    QUOTES_API_URL: "http://127.0.0.1:9/json/last/",
  };
}

export async function startTestFila(options: TestFilaOptions = {}): Promise<TestFila> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "fila-test-" });
  const removeDir = options.removeDir ?? options.dir === undefined;
  const config = loadConfig({
    ...testEnv(dir, options.driver),
    DATABASE_URL: await databaseUrl(options.store ?? "libsql", dir),
    ...options.env,
  });
  // the test task types that record what ran write through their own connection
  const recorder = openSql(config.DATABASE_URL);
  const instance = await startFila(config, {
    extraTaskTypes: [...testTaskTypes, ...(options.extraTaskTypes ?? [])],
    extraServices: { testSql: recorder },
  });
  const url = instance.url!;
  const sql = openSql(config.DATABASE_URL);
  // a ROLE=worker instance serves no document: its app still describes what it serves
  const document = () => buildOpenApiDocument(instance.app, instance.engine.taskTypes(), VERSION);
  return {
    ...clientFor(url, document),
    url,
    dir,
    instance,
    sql,
    async stop() {
      await sql.close();
      await instance.stop(0);
      await recorder.close();
      if (removeDir) {
        databases.delete(dir);
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  };
}

/**
 * HTTP helpers bound to a base URL (also used with child instances), each call
 * checked against the document the instance serves (or `document`'s, when it
 * serves none).
 */
export function clientFor(url: string, document?: () => unknown) {
  let contract: ReturnType<typeof loadContract> | undefined;
  const fetchAt = contractFetch(url, () => contract ??= loadContract(url, document));
  const parse = async (res: Response) => {
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch { /* not JSON: keep the text for the assertion message */ }
    return { status: res.status, body: body as Json };
  };
  const client = {
    fetch: fetchAt,
    async post(path: string, body?: unknown, headers: Record<string, string> = {}) {
      return parse(
        await fetchAt(path, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      );
    },
    async get(path: string) {
      return parse(await fetchAt(path));
    },
    async waitForTask(
      id: string,
      predicate = (t: Json) => FINAL.includes(t.status),
      timeoutMs = 20_000,
    ) {
      const deadline = Date.now() + timeoutMs;
      let last: Json;
      while (Date.now() < deadline) {
        const { status, body } = await client.get(`/tasks/${id}`);
        if (status !== 200) {
          throw new Error(`GET /tasks/${id} answered ${status}: ${JSON.stringify(body)}`);
        }
        last = body;
        if (predicate(body)) return body;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(
        `task ${id} did not reach the expected state in ${timeoutMs} ms; last: ${
          JSON.stringify(last)
        }`,
      );
    },
  };
  return client;
}

const FINAL = ["succeeded", "failed", "cancelled"];

/** The `data` of one Server-Sent Events frame, parsed. */
export function sseFrameData(frame: string): Json {
  const data = frame.split("\n").find((line) => line.startsWith("data: "))!;
  return JSON.parse(data.slice("data: ".length));
}

/** A task's whole history from GET /tasks/:id/events (the stream ends with the task). */
export async function readTaskEvents(url: string, id: string): Promise<Json[]> {
  const text = await (await clientFor(url).fetch(`/tasks/${id}/events`)).text();
  return text.split("\n\n").filter((f) => f.startsWith("event: task")).map(sseFrameData);
}

/** The start of the next minute: a tick no schedule has run for yet. */
export function nextMinute(after = Date.now()): Date {
  return new Date(Math.floor(after / 60_000) * 60_000 + 60_000);
}

/**
 * Runs `instance`'s schedules for `tick`, as the minute cron would, and returns
 * the quote refresh it submitted (or matched on another instance's key); null
 * when the refresh was not due (it already ran for that tick here).
 */
export async function refreshTick(
  instance: FilaInstance,
  tick: Date = nextMinute(),
): Promise<{ id: string; created: boolean } | null> {
  const run = (await instance.scheduler.tick(tick)).get("refresh_quotes");
  return run ? { id: run.task.id, created: run.created } : null;
}

export interface ChildFila {
  url: string | null;
  pid: number;
  process: Deno.ChildProcess;
  /** Everything the child wrote to stderr so far (for failure messages). */
  stderr(): string;
  kill(signal?: Deno.Signal): void;
  /** Resolves with the exit status. */
  exited: Promise<Deno.CommandStatus>;
}

/**
 * Starts a Fila instance in a child process (with the test task types), and
 * resolves once it serves (or, for ROLE=worker, once it is up).
 */
export async function spawnFila(
  env: Record<string, string>,
  timeoutMs = 30_000,
  denoFlags: string[] = [],
): Promise<ChildFila> {
  const entry = new URL("./child_instance.ts", import.meta.url).pathname;
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...denoFlags, entry],
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  const process = command.spawn();
  let errText = "";
  (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of process.stderr) errText += decoder.decode(chunk);
  })();
  const lines = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const deadline = Date.now() + timeoutMs;
  let ready: { url: string | null } | null = null;
  while (!ready && Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) break;
    buffered += value;
    const match = buffered.match(/^FILA_READY (.*)$/m);
    if (match) ready = JSON.parse(match[1]);
  }
  // keep draining stdout so the child never blocks on a full pipe
  (async () => {
    try {
      while (!(await lines.read()).done) { /* drain */ }
    } catch { /* closed */ }
  })();
  if (!ready) {
    try {
      process.kill("SIGKILL");
    } catch { /* already gone */ }
    throw new Error(`child instance did not start: ${errText}`);
  }
  return {
    url: ready.url,
    pid: process.pid,
    process,
    stderr: () => errText,
    kill: (signal: Deno.Signal = "SIGTERM") => {
      try {
        process.kill(signal);
      } catch { /* already gone */ }
    },
    exited: process.status,
  };
}
