/**
 * PostgreSQL driver comparison for Fila's coming PostgreSQL store: `postgres` (postgres.js) and
 * `pg` (node-postgres), each under drizzle-orm, on one throw-away local cluster
 * (../support/postgres.ts). Prints a table; asserts nothing but that claims never overlap.
 *
 *   deno run -A tests/bench/pg_drivers.ts [--quick]
 *
 * What each row measures (drivers take turns, ROUNDS rounds, each its own database):
 *   (a) INSERT … RETURNING of one row through drizzle, sequential: p50/p99 latency, ops/s
 *   (h) the same through a drizzle prepared statement (`.prepare(name)`)
 *   (b) one 1,000-row multi-row INSERT (5 columns: 5,000 parameters)
 *   (c) the claim `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING *` by two
 *       concurrent claimers (two connections) until the queue is empty; no id may be claimed twice
 *   (d) a drizzle transaction (BEGIN, INSERT, UPDATE, SELECT, COMMIT); and the driver's own
 *       way to send three statements at once in a transaction (does it pipeline?)
 *   round trips: counted by a loopback TCP proxy between driver and server, as the number of
 *       times the client sends after the server has answered, on a warm connection
 *   (e) LISTEN/NOTIFY: a child process LISTENs with the driver and prints each payload; latency
 *       is NOTIFY sent here → line read from the child; then the server is restarted (fast), and
 *       then taken down for 2 s: does the child get notifications again without doing anything?
 *       (postgres.js reconnects with its `backoff` option: (0.5–1) × min(3^retries / 100, 20) s by
 *       default, so the longer the outage the longer it may stay deaf after the server is back)
 *   (f) resident memory a fresh process gains by importing the driver + its drizzle adapter,
 *       and after its first query (gc() before each reading; median of 3 processes)
 *   (g) a child that connects, inserts and LISTENs with only --allow-net (everything else
 *       denied), and with Deno Deploy's set (--allow-net/env/read/sys, --deny-ffi/write/run)
 * The machine is shared and small: figures are noisy, compare them side by side only.
 */
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { type PostgresCluster, startPostgres } from "../support/postgres.ts";

type DriverName = "postgres" | "pg";
const DRIVERS: DriverName[] = ["postgres", "pg"];
const LABEL: Record<DriverName, string> = { postgres: "postgres.js", pg: "pg" };
const CHANNEL = "fila_bench";

type Db = PgDatabase<PgQueryResultHKT>;

/** One driver opened on one URL: drizzle over it, and the driver's own calls drizzle lacks. */
interface OpenDriver {
  db: Db;
  /** Sends three statements in one transaction the way the driver allows most concurrency. */
  threeAtOnceInTransaction(): Promise<void>;
  close(): Promise<void>;
}

/** Imports driver and adapter on demand, so that a child can measure what importing costs. */
async function openDriver(name: DriverName, url: string, max = 4): Promise<OpenDriver> {
  if (name === "postgres") {
    // deno-lint-ignore no-import-prefix -- a test-only package (tests/deno.lock); the service uses pg
    const { default: postgres } = await import("npm:postgres@^3.4.9");
    const { drizzle } = await import("drizzle-orm/postgres-js");
    const client = postgres(url, { max, onnotice: () => {} });
    return {
      db: drizzle({ client }) as unknown as Db,
      async threeAtOnceInTransaction() {
        await client.begin((sql) => [
          sql`INSERT INTO bench_tasks (status, priority, run_at, payload)
              VALUES ('done', 0, now(), '{}')`,
          sql`UPDATE bench_tasks SET priority = priority WHERE id = 1`,
          sql`SELECT count(*) FROM bench_tasks WHERE status = 'queued'`,
        ]);
      },
      close: () => client.end({ timeout: 5 }),
    };
  }
  const { default: pg } = await import("pg");
  const { drizzle } = await import("drizzle-orm/node-postgres");
  const pool = new pg.Pool({ connectionString: url, max });
  // an idle client whose server went away emits 'error' on the pool: unhandled, it kills the process
  pool.on("error", () => {});
  return {
    db: drizzle({ client: pool }) as unknown as Db,
    async threeAtOnceInTransaction() {
      const client = await pool.connect();
      try {
        await Promise.all([
          client.query("BEGIN"),
          client.query(`INSERT INTO bench_tasks (status, priority, run_at, payload)
                        VALUES ('done', 0, now(), '{}')`),
          client.query("UPDATE bench_tasks SET priority = priority WHERE id = 1"),
          client.query("SELECT count(*) FROM bench_tasks WHERE status = 'queued'"),
          client.query("COMMIT"),
        ]);
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

async function benchSchema() {
  const { pgTable, bigserial, integer, jsonb, text, timestamp } = await import(
    "drizzle-orm/pg-core"
  );
  return pgTable("bench_tasks", {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    status: text("status").notNull(),
    priority: integer("priority").notNull(),
    runAt: timestamp("run_at", { withTimezone: true, mode: "date" }).notNull(),
    payload: jsonb("payload").notNull(),
  });
}

const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS bench_tasks (
    id bigserial PRIMARY KEY,
    status text NOT NULL,
    priority integer NOT NULL,
    run_at timestamptz NOT NULL,
    payload jsonb NOT NULL
  );
  CREATE INDEX IF NOT EXISTS bench_tasks_ready ON bench_tasks (status, priority, run_at)`;

/** Rows of a `db.execute` result: postgres.js gives an array, pg a `{ rows }`. */
function rowsOf(result: unknown): Record<string, unknown>[] {
  return Array.isArray(result) ? result : (result as { rows: Record<string, unknown>[] }).rows;
}

// ---------------------------------------------------------------- measurements

interface Figures {
  [row: string]: string;
}

async function measureInserts(
  db: Db,
  n: number,
): Promise<{ single: number[]; prepared: number[] }> {
  const { sql } = await import("drizzle-orm");
  const tasks = await benchSchema();
  const row = () => ({ status: "done", priority: 0, runAt: new Date(), payload: { n: 1 } });
  const prepared = db.insert(tasks).values({
    status: sql.placeholder("status"),
    priority: sql.placeholder("priority"),
    runAt: sql.placeholder("runAt"),
    payload: sql.placeholder("payload"),
  }).returning().prepare("bench_insert");
  const single: number[] = [];
  const preparedTimes: number[] = [];
  for (let i = 0; i < n; i++) {
    let start = performance.now();
    await db.insert(tasks).values(row()).returning();
    single.push(performance.now() - start);
    start = performance.now();
    await prepared.execute(row());
    preparedTimes.push(performance.now() - start);
  }
  return { single, prepared: preparedTimes };
}

async function measureBulkInsert(db: Db, times: number): Promise<number[]> {
  const tasks = await benchSchema();
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const rows = Array.from({ length: 1000 }, (_, k) => ({
      status: "done",
      priority: k % 10,
      runAt: new Date(),
      payload: { k },
    }));
    const start = performance.now();
    await db.insert(tasks).values(rows);
    samples.push(performance.now() - start);
  }
  return samples;
}

/** Seeds `n` queued rows, then two claimers drain them; returns per-claim times and wall time. */
async function measureClaims(db: Db, n: number, batch: number) {
  const { sql } = await import("drizzle-orm");
  const tasks = await benchSchema();
  await db.execute(sql`DELETE FROM bench_tasks WHERE status IN ('queued', 'running')`);
  for (let offset = 0; offset < n; offset += 1000) {
    await db.insert(tasks).values(
      Array.from({ length: Math.min(1000, n - offset) }, (_, k) => ({
        status: "queued",
        priority: (offset + k) % 7,
        runAt: new Date(Date.now() - k),
        payload: { k },
      })),
    );
  }
  const claimed: number[] = [];
  const times: number[] = [];
  const claimer = async () => {
    for (;;) {
      const start = performance.now();
      const result = await db.execute(sql`
        UPDATE bench_tasks SET status = 'running'
        WHERE id IN (
          SELECT id FROM bench_tasks WHERE status = 'queued'
          ORDER BY priority, run_at LIMIT ${batch} FOR UPDATE SKIP LOCKED)
        RETURNING *`);
      times.push(performance.now() - start);
      const rows = rowsOf(result);
      if (rows.length === 0) return;
      for (const row of rows) claimed.push(Number(row.id));
    }
  };
  const start = performance.now();
  await Promise.all([claimer(), claimer()]);
  const wallMs = performance.now() - start;
  const duplicates = claimed.length - new Set(claimed).size;
  if (duplicates !== 0 || claimed.length !== n) {
    throw new Error(`claims overlapped: ${claimed.length} claimed, ${duplicates} twice, of ${n}`);
  }
  return { times, wallMs, claimed: claimed.length };
}

async function measureTransactions(db: Db, n: number): Promise<number[]> {
  const { sql } = await import("drizzle-orm");
  const tasks = await benchSchema();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await transactionOfThree(db, tasks, sql);
    samples.push(performance.now() - start);
  }
  return samples;
}

async function transactionOfThree(
  db: Db,
  tasks: Awaited<ReturnType<typeof benchSchema>>,
  sql: typeof import("drizzle-orm").sql,
): Promise<void> {
  const { eq } = await import("drizzle-orm");
  await db.transaction(async (tx) => {
    const [row] = await tx.insert(tasks).values({
      status: "done",
      priority: 0,
      runAt: new Date(),
      payload: {},
    }).returning({ id: tasks.id });
    await tx.update(tasks).set({ priority: sql`${tasks.priority} + 1` }).where(
      eq(tasks.id, row.id),
    );
    await tx.select().from(tasks).where(eq(tasks.id, row.id));
  });
}

/**
 * A loopback TCP proxy that counts round trips: each time the client sends after the server has
 * sent (or first), one more. Pipelined statements sent in one go therefore count once.
 */
class RoundTripCounter {
  count = 0;
  private listener: Deno.Listener;
  private sockets = new Set<Deno.Conn>();

  constructor(private targetPort: number) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.accept();
  }

  get port(): number {
    return (this.listener.addr as Deno.NetAddr).port;
  }

  private async accept() {
    try {
      for await (const client of this.listener) this.relay(client);
    } catch {
      // closed
    }
  }

  private async relay(client: Deno.Conn) {
    const server = await Deno.connect({ hostname: "127.0.0.1", port: this.targetPort });
    this.sockets.add(client).add(server);
    let lastFromClient = false;
    const pump = async (from: Deno.Conn, to: Deno.Conn, fromClient: boolean) => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          const n = await from.read(buffer);
          if (n === null) break;
          if (fromClient && !lastFromClient) this.count++;
          lastFromClient = fromClient;
          let written = 0;
          while (written < n) written += await to.write(buffer.subarray(written, n));
        }
      } catch {
        // the other side closed
      }
      for (const conn of [from, to]) {
        try {
          conn.close();
        } catch {
          // already closed
        }
        this.sockets.delete(conn);
      }
    };
    pump(client, server, true);
    pump(server, client, false);
  }

  close() {
    this.listener.close();
    for (const conn of this.sockets) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  }
}

/** Round trips of one operation on a warm single connection, through the counting proxy. */
async function countRoundTrips(
  driver: DriverName,
  cluster: PostgresCluster,
  databaseUrl: string,
): Promise<Figures> {
  const { sql } = await import("drizzle-orm");
  const tasks = await benchSchema();
  const proxy = new RoundTripCounter(cluster.port);
  const url = databaseUrl.replace(`:${cluster.port}/`, `:${proxy.port}/`);
  const open = await openDriver(driver, url, 1);
  const row = () => ({ status: "done", priority: 0, runAt: new Date(), payload: {} });
  const prepared = open.db.insert(tasks).values({
    status: sql.placeholder("status"),
    priority: sql.placeholder("priority"),
    runAt: sql.placeholder("runAt"),
    payload: sql.placeholder("payload"),
  }).returning().prepare("rt_insert");
  const ops: Record<string, () => Promise<unknown>> = {
    insert: () => open.db.insert(tasks).values(row()).returning(),
    prepared: () => prepared.execute(row()),
    execute: () => open.db.execute(sql`SELECT id FROM bench_tasks WHERE id = ${1}`),
    transaction: () => transactionOfThree(open.db, tasks, sql),
    pipelined: () => open.threeAtOnceInTransaction(),
  };
  const figures: Figures = {};
  try {
    for (const [name, op] of Object.entries(ops)) {
      await op(); // warm: connection open, statement prepared, types fetched
      const first = proxy.count;
      await op();
      figures[name] = String(proxy.count - first);
    }
  } finally {
    await open.close();
    proxy.close();
  }
  return figures;
}

// ---------------------------------------------------------------- child processes

const SELF = new URL(import.meta.url).pathname;

/** Reads a child's stdout line by line and lets the caller wait for a line that matches. */
class LineReader {
  lines: string[] = [];
  private waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];

  constructor(stream: ReadableStream<Uint8Array>) {
    this.read(stream);
  }

  private async read(stream: ReadableStream<Uint8Array>) {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        this.lines.push(line);
        this.waiters = this.waiters.filter((waiter) => {
          if (!waiter.match(line)) return true;
          waiter.resolve(line);
          return false;
        });
      }
    }
  }

  /** The next line (from now on) that matches, or null after `timeoutMs`. */
  next(match: (line: string) => boolean, timeoutMs: number): Promise<string | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        resolve(null);
      }, timeoutMs);
      const entry = {
        match,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.waiters.push(entry);
    });
  }
}

function spawnSelf(args: string[], denoFlags = ["-A"]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...denoFlags, SELF, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

/** Child: LISTENs with the driver and prints one JSON line per event (notify, listening, error, end). */
async function runListener(driver: DriverName, url: string) {
  const print = (event: Record<string, unknown>) => console.log(JSON.stringify(event));
  if (driver === "postgres") {
    // deno-lint-ignore no-import-prefix -- a test-only package (tests/deno.lock); the service uses pg
    const { default: postgres } = await import("npm:postgres@^3.4.9");
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    // onlisten runs on the first LISTEN and again on each automatic re-LISTEN after a reconnect
    await sql.listen(
      CHANNEL,
      (payload) => print({ event: "notify", payload }),
      () => print({ event: "listening" }),
    );
  } else {
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: url });
    client.on(
      "notification",
      (message: { payload?: string }) => print({ event: "notify", payload: message.payload }),
    );
    client.on("error", (error: Error) => print({ event: "error", message: error.message }));
    client.on("end", () => print({ event: "end" }));
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    print({ event: "listening" });
  }
  setInterval(() => {}, 1 << 30); // until killed
}

/**
 * Child: RSS before and after importing the driver + adapter, and after a first query; with
 * `none`, after importing drizzle-orm and its pg-core alone (what both drivers share).
 */
async function runMemoryProbe(driver: DriverName | "none", url: string) {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const rss = () => {
    gc();
    return Deno.memoryUsage().rss;
  };
  const before = rss();
  if (driver === "none") {
    await import("drizzle-orm");
    await import("drizzle-orm/pg-core");
    console.log(JSON.stringify({ imported: rss() - before, queried: 0 }));
    return;
  }
  const open = await openDriver(driver, url, 1);
  const afterImport = rss();
  const { sql } = await import("drizzle-orm");
  await open.db.execute(sql`SELECT 1`);
  const afterQuery = rss();
  await open.close();
  console.log(JSON.stringify({ imported: afterImport - before, queried: afterQuery - before }));
}

/** Child: connect, insert, LISTEN and receive a NOTIFY; prints "ok" or the error. */
async function runPermissionProbe(driver: DriverName, url: string) {
  try {
    const open = await openDriver(driver, url, 1);
    const tasks = await benchSchema();
    await open.db.insert(tasks).values({
      status: "done",
      priority: 0,
      runAt: new Date(),
      payload: {},
    }).returning();
    await open.close();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no notification")), 5000);
      (async () => {
        if (driver === "postgres") {
          // deno-lint-ignore no-import-prefix -- a test-only package (tests/deno.lock); the service uses pg
          const { default: postgres } = await import("npm:postgres@^3.4.9");
          const client = postgres(url, { max: 1 });
          await client.listen(CHANNEL, async () => {
            clearTimeout(timer);
            await client.end();
            resolve();
          });
          await client.notify(CHANNEL, "probe");
        } else {
          const { default: pg } = await import("pg");
          const client = new pg.Client({ connectionString: url });
          client.on("notification", async () => {
            clearTimeout(timer);
            await client.end();
            resolve();
          });
          await client.connect();
          await client.query(`LISTEN ${CHANNEL}`);
          await client.query(`NOTIFY ${CHANNEL}, 'probe'`);
        }
      })().catch(reject);
    });
    console.log("ok");
  } catch (error) {
    const cause = (error as Error).cause ?? error; // drizzle wraps the driver's error
    console.log(`fails: ${String((cause as Error).message ?? cause).split("\n")[0]}`);
  }
  Deno.exit(0);
}

// ---------------------------------------------------------------- (e) notify + restart

const isEvent = (event: string, payload?: string) => (line: string) => {
  const parsed = JSON.parse(line);
  return parsed.event === event && (payload === undefined || parsed.payload === payload);
};

/** A listener child (`--listener`), once it has printed that it listens. */
async function startListener(driver: DriverName, url: string) {
  const child = spawnSelf(["--listener", driver, url]).spawn();
  const lines = new LineReader(child.stdout);
  child.stderr.cancel();
  const stop = async () => {
    child.kill("SIGKILL");
    await child.status;
  };
  if (
    !lines.lines.some(isEvent("listening")) && !await lines.next(isEvent("listening"), 30_000)
  ) {
    await stop();
    throw new Error("listener did not start");
  }
  return { lines, stop };
}

async function measureNotify(
  driver: DriverName,
  cluster: PostgresCluster,
  url: string,
  db: Db,
  pings: number,
): Promise<Figures> {
  const { sql } = await import("drizzle-orm");
  const notify = (payload: string) => db.execute(sql`SELECT pg_notify(${CHANNEL}, ${payload})`);
  const figures: Figures = {};
  const listener = await startListener(driver, url);
  try {
    const latencies: number[] = [];
    for (let i = 0; i < pings + 20; i++) {
      const payload = `ping-${i}`;
      const seen = listener.lines.next(isEvent("notify", payload), 5000);
      const start = performance.now();
      await notify(payload);
      if (!await seen) throw new Error(`no ${payload}`);
      if (i >= 20) latencies.push(performance.now() - start);
    }
    figures["(e) NOTIFY → handler in other process p50 ms"] = ms(percentile(latencies, 50));
    figures["(e) NOTIFY → handler p99 ms"] = ms(percentile(latencies, 99));
  } finally {
    await listener.stop();
  }

  for (const [label, outage] of [["restart (fast)", 0], ["down 2 s, then up", 2000]] as const) {
    const { lines, stop } = await startListener(driver, url);
    try {
      const from = lines.lines.length;
      await cluster.down("fast");
      if (outage) await delay(outage);
      await cluster.up();
      const upAt = performance.now();
      // notify every 100 ms for up to 10 s; the first one the child prints ends the wait
      let received: string | null = null;
      for (let k = 0; k < 100 && !received; k++) {
        const seen = lines.next(isEvent("notify"), 100);
        await notify(`after-${k}`).catch(() => {});
        received = await seen;
      }
      await delay(300); // a driver may report re-listening just after the first notification
      const events = lines.lines.slice(from).map((line) => JSON.parse(line))
        .filter((event) => event.event !== "notify").map((event) =>
          event.event + (event.message ? `(${String(event.message).slice(0, 40)})` : "")
        );
      figures[`(e) after ${label}: LISTEN again by itself`] = received
        ? `yes, ${Math.round(performance.now() - upAt)} ms after up`
        : "no (10 s)";
      figures[`(e) after ${label}: events the app saw`] = events.join(", ") || "none";
    } finally {
      await stop();
    }
  }
  return figures;
}

// ---------------------------------------------------------------- helpers

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function median(samples: number[]): number {
  return percentile(samples, 50);
}

function ms(value: number): string {
  return value.toFixed(value < 10 ? 2 : 1);
}

function perSecond(count: number, totalMs: number): string {
  return Math.round(count / (totalMs / 1000)).toLocaleString("en-US");
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function printTable(columns: string[], rows: Map<string, Figures>) {
  const header = ["", ...columns];
  const body = [...rows].map(([row, figures]) => [row, ...columns.map((c) => figures[c] ?? "")]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((line) => line[i].length)));
  const format = (line: string[]) =>
    "| " + line.map((cell, i) => cell.padEnd(widths[i])).join(" | ") + " |";
  console.log(format(header));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const line of body) console.log(format(line));
}

// ---------------------------------------------------------------- main

async function main() {
  const quick = Deno.args.includes("--quick");
  const ROUNDS = quick ? 1 : 3;
  const INSERTS = quick ? 200 : 1000;
  const BULKS = quick ? 3 : 10;
  const CLAIM_ROWS = quick ? 500 : 2000;
  const TRANSACTIONS = quick ? 100 : 500;
  const PINGS = quick ? 50 : 300;

  const cluster = await startPostgres({ database: "bench" });
  const rows = new Map<string, Figures>();
  const put = (row: string, driver: DriverName, value: string) => {
    if (!rows.has(row)) rows.set(row, {});
    rows.get(row)![LABEL[driver]] = value;
  };
  try {
    const urls: Record<DriverName, string> = {
      postgres: await cluster.createDatabase("bench_postgres_js"),
      pg: await cluster.createDatabase("bench_pg"),
    };
    const open: Record<string, OpenDriver> = {};
    for (const driver of DRIVERS) {
      open[driver] = await openDriver(driver, urls[driver]);
      const { sql } = await import("drizzle-orm");
      for (const statement of CREATE_TABLE.split(";")) {
        await open[driver].db.execute(sql.raw(statement));
      }
    }

    const samples = (): Record<DriverName, number[]> => ({ postgres: [], pg: [] });
    const single = samples(), prepared = samples(), bulk = samples(), tx = samples();
    const claimOne = samples(), claimWall = samples(), claimTen = samples();
    for (let round = 0; round < ROUNDS; round++) {
      for (const driver of round % 2 ? [...DRIVERS].reverse() : DRIVERS) {
        const { db } = open[driver];
        await measureInserts(db, 50); // warm-up, not counted
        const inserts = await measureInserts(db, INSERTS);
        single[driver].push(...inserts.single);
        prepared[driver].push(...inserts.prepared);
        bulk[driver].push(...await measureBulkInsert(db, BULKS));
        const one = await measureClaims(db, CLAIM_ROWS, 1);
        claimOne[driver].push(...one.times);
        claimWall[driver].push(one.wallMs);
        const ten = await measureClaims(db, CLAIM_ROWS, 10);
        claimTen[driver].push(ten.wallMs);
        tx[driver].push(...await measureTransactions(db, TRANSACTIONS));
      }
    }
    for (const driver of DRIVERS) {
      const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
      put("(a) INSERT…RETURNING 1 row, p50 ms", driver, ms(percentile(single[driver], 50)));
      put("(a) p99 ms", driver, ms(percentile(single[driver], 99)));
      put("(a) ops/s (sequential)", driver, perSecond(single[driver].length, sum(single[driver])));
      put("(h) same, drizzle .prepare(): p50 ms", driver, ms(percentile(prepared[driver], 50)));
      put("(h) p99 ms", driver, ms(percentile(prepared[driver], 99)));
      put("(h) ops/s", driver, perSecond(prepared[driver].length, sum(prepared[driver])));
      put("(b) 1,000-row INSERT, p50 ms", driver, ms(median(bulk[driver])));
      put("(b) rows/s", driver, perSecond(1000, median(bulk[driver])));
      put(
        "(c) claim LIMIT 1, 2 claimers: claims/s",
        driver,
        perSecond(CLAIM_ROWS, median(claimWall[driver])),
      );
      put("(c) per claim p50 ms", driver, ms(percentile(claimOne[driver], 50)));
      put("(c) per claim p99 ms", driver, ms(percentile(claimOne[driver], 99)));
      put(
        "(c) claim LIMIT 10, 2 claimers: rows/s",
        driver,
        perSecond(CLAIM_ROWS, median(claimTen[driver])),
      );
      put("(c) ids claimed twice", driver, "0");
      put("(d) drizzle tx (BEGIN+3+COMMIT) p50 ms", driver, ms(percentile(tx[driver], 50)));
      put("(d) p99 ms", driver, ms(percentile(tx[driver], 99)));
    }

    for (const driver of DRIVERS) {
      const trips = await countRoundTrips(driver, cluster, urls[driver]);
      put("round trips: INSERT…RETURNING", driver, trips.insert);
      put("round trips: prepared INSERT", driver, trips.prepared);
      put("round trips: db.execute(sql`…${param}`)", driver, trips.execute);
      put("round trips: drizzle tx (BEGIN+3+COMMIT)", driver, trips.transaction);
      put("round trips: 3 stmts sent at once in a tx", driver, trips.pipelined);
    }

    const memoryOf = async (driver: DriverName | "none", url: string) => {
      const memory = [];
      for (let i = 0; i < 3; i++) {
        const output = await spawnSelf(["--memory", driver, url], [
          "-A",
          "--v8-flags=--expose-gc",
        ]).output();
        memory.push(JSON.parse(new TextDecoder().decode(output.stdout)));
      }
      return {
        imported: median(memory.map((m) => m.imported)),
        queried: median(memory.map((m) => m.queried)),
      };
    };
    const shared = await memoryOf("none", "");
    for (const driver of DRIVERS) {
      const memory = await memoryOf(driver, urls[driver]);
      put("(f) RSS added by import (driver+drizzle), MiB", driver, mib(memory.imported));
      put("(f) … and after first query, MiB", driver, mib(memory.queried));
      put("(f) of which drizzle-orm + pg-core alone", driver, mib(shared.imported));
    }

    const permissionSets: [string, string[]][] = [
      ["(g) --allow-net=127.0.0.1 only", [
        "--allow-net=127.0.0.1",
        "--deny-env",
        "--deny-read",
        "--deny-sys",
        "--deny-ffi",
        "--deny-write",
        "--deny-run",
      ]],
      ["(g) --allow-net=127.0.0.1 --allow-env only", [
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--deny-read",
        "--deny-sys",
        "--deny-ffi",
        "--deny-write",
        "--deny-run",
      ]],
      ["(g) Deploy set: net,env,read,sys; deny ffi,write,run", [
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-read",
        "--allow-sys",
        "--deny-ffi",
        "--deny-write",
        "--deny-run",
      ]],
    ];
    for (const driver of DRIVERS) {
      for (const [row, flags] of permissionSets) {
        const output = await spawnSelf(["--probe", driver, urls[driver]], flags).output();
        const text = new TextDecoder().decode(output.stdout).trim() ||
          new TextDecoder().decode(output.stderr).trim().split("\n")[0];
        put(row, driver, text.slice(0, 60));
      }
    }

    // last: restarts drop every connection above
    for (const driver of DRIVERS) {
      const figures = await measureNotify(driver, cluster, urls[driver], open[driver].db, PINGS);
      for (const [row, value] of Object.entries(figures)) put(row, driver, value);
    }
    for (const driver of DRIVERS) await open[driver].close().catch(() => {});
  } finally {
    await cluster.stop();
  }
  console.log(
    `PostgreSQL ${cluster.port ? "local cluster" : ""}, Deno ${Deno.version.deno}, ` +
      `${ROUNDS} round(s), drivers taking turns; shared 2-core machine: noisy figures`,
  );
  printTable(DRIVERS.map((driver) => LABEL[driver]), rows);
}

if (import.meta.main) {
  const [mode, driver, url] = Deno.args;
  if (mode === "--listener") await runListener(driver as DriverName, url);
  else if (mode === "--memory") await runMemoryProbe(driver as DriverName | "none", url);
  else if (mode === "--probe") await runPermissionProbe(driver as DriverName, url);
  else await main();
}
