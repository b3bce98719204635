/**
 * Real Fila instances for tests: a real server on a free port over a real libSQL
 * file and a real KV file in a temp dir, in this process (`startTestFila`) or
 * in a child process that can be killed (`spawnFila`).
 */
import { loadConfig } from "../../config.ts";
import { type FilaInstance, startFila, VERSION } from "../../main.ts";
import { buildOpenApiDocument } from "../../routes/docs.ts";
import { contractFetch, type ContractInit, loadContract } from "./contract.ts";
import type { TaskDefinition } from "../../tasks/engine/task_definition.ts";
import { openSql, type SqlClient } from "./sql.ts";
import { testTaskTypes } from "./test_task_types.ts";

/** A parsed JSON answer: tests assert on its shape, so it is left loose on purpose. */
// deno-lint-ignore no-explicit-any
export type Json = any;

export type Driver = "kv" | "db";
export const DRIVERS: Driver[] = ["kv", "db"];

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
  const config = loadConfig({ ...testEnv(dir, options.driver), ...options.env });
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
      if (removeDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
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
