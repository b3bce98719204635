/**
 * `deno task bench`: figures for one Fila instance (a child process on temp
 * files), per broker driver. Prints a table; asserts nothing.
 *
 * Workload as in ../shared/peers/README.md: no-op tasks, results stored.
 *   end-to-end (batch)  : 10,000 noop via POST /tasks/batch of 1,000; tasks/s = n / (last finished_at - first submit)
 *   end-to-end (single) : 10,000 noop via single POSTs from 32 concurrent clients
 *   drain               : n tasks stored by an api-only instance, then a worker instance started
 *   submit→done         : 200 timed noops/s for 15 s; latency = the task's own t_end - the moment
 *                         before the POST (as the peers measure); also finished_at (1 ms resolution)
 *   POST /tasks latency : 500 req/s for 10 s (after 2 s unrecorded); client-side round trip
 *   (latency runs use lean_http.ts, kept-alive HTTP/1.1 connections: fetch's own cost was the tail)
 *   warm-up             : as the peers' harness does, every instance first runs 50 noop tasks
 *                         (not counted) before end-to-end and latency runs
 *   peak RSS            : VmHWM of the instance after the end-to-end runs
 *
 * PostgreSQL (--store=postgres, driver pg; a throw-away cluster, defaults, durable commits), also:
 *   end-to-end, 3 instances : 10,000 noop as batches of 1,000 spread over 3 instances sharing the
 *                             database (one client per instance); tasks/s as above
 *   cross-instance submit→done: 200 timed noops/s for 15 s submitted to an api-only instance and
 *                             run by a worker-only one (LISTEN/NOTIFY carries the wake-up)
 *
 * Flags: --quick (small n, short runs), --driver=kv|db|pg (default: every driver of the store),
 *        --store=libsql|postgres|libsql,postgres (default libsql: drivers kv and db; postgres: pg),
 *        --vs bullmq|celery|rq|graphile|pgboss[,…] (also run ../shared/peers/run.sh <peer> and
 *        compare; graphile and pgboss against the pg driver),
 *        --stored (with --vs: use the peer's stored results instead of running it),
 *        --no-csv (skip the process_csv section), --runs=N (default 3, 1 with --quick: every
 *        Fila figure is the median of N runs, drivers taking turns).
 *   GET /currency       : 2,000 req/s for 10 s (after 2 s unrecorded) once a reading was stored
 *                         (statuses seen are printed)
 *
 * --soak[=SECONDS] (default 600) runs only the soak figure (soak.ts), per driver: sustained
 *   noop load at a fixed rate (--soak-rate=N, default 300/s) with SSE followers and the
 *   dashboard's polling, printing RSS, RssAnon and the V8 heap at start, after warm-up and
 *   every minute, and the growth per 100,000 tasks after warm-up (--soak-no-dashboard: without
 *   the dashboard's polling).
 * --contention runs only the contention figures (contention.ts) at 100,000 tasks.
 */
import { type ChildFila, spawnFila, testEnv } from "../support/harness.ts";
import { benchDatabase, benchDb, stopBenchCluster, storeOf } from "./bench_store.ts";
import { type PeerFigures, readPeer, runPeer, STORED_POSTGRES_PEERS } from "./peers.ts";
import { startFakeAwesomeApi } from "../support/fake_awesomeapi.ts";
import { LeanHttpPool, type LeanResponse } from "./lean_http.ts";
import { formatSoak, runSoak } from "./soak.ts";

const quick = Deno.args.includes("--quick");
const driverArg = Deno.args.find((a) => a.startsWith("--driver="))?.split("=")[1];
const storeArg = Deno.args.find((a) => a.startsWith("--store="))?.split("=")[1] ?? "libsql";
type Driver = "kv" | "db" | "pg";
const drivers: readonly Driver[] = driverArg ? [driverArg as Driver] : storeArg.split(",").flatMap((
  store,
): Driver[] => store === "postgres" ? ["pg"] : ["kv", "db"]);
const vsIndex = Deno.args.findIndex((a) => a === "--vs" || a.startsWith("--vs="));
const vs = vsIndex < 0
  ? null
  : Deno.args[vsIndex].includes("=")
  ? Deno.args[vsIndex].split("=")[1]
  : Deno.args[vsIndex + 1];
const N = quick ? 2_000 : 10_000;
/** Runs of every Fila measurement; the table shows medians, as the peers' harness does. */
const RUNS = Number(
  Deno.args.find((a) => a.startsWith("--runs="))?.split("=")[1] ?? (quick ? 1 : 3),
);
/**
 * The instance runs with the runtime flags of `deno task start` (heap sizes, no
 * code cache), all but its permissions: the bench's child gets -A.
 */
const START_FLAGS: string[] = (JSON.parse(
  await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
).tasks.start as string).split(/\s+/).filter((arg) =>
  arg.startsWith("--") && !arg.startsWith("--allow-")
);
const RATE_SECONDS = quick ? 3 : 15;
/** Tasks run and discarded before measuring (the peers' BENCH_WARMUP default). */
const WARMUP = 50;
/** Request-latency runs first go this long at their rate unrecorded (both JITs warm up). */
const WARM_SECONDS = quick ? 1 : 2;
const POST_SECONDS = quick ? 3 : 10;

interface Figures {
  [metric: string]: string;
}

/** Where the bench reads an instance's results: its libSQL file, or its PostgreSQL database. */
const locatorOf = (database: string) =>
  database.startsWith("file:") ? database.slice("file:".length) : database;

/** A temp dir and a new database for `driver`, and the instances' environment on them. */
async function benchPlace(driver: Driver) {
  const dir = await Deno.makeTempDir({ prefix: "fila-bench-" });
  const database = await benchDatabase(driver, dir);
  const env = { ...testEnv(dir, driver), DATABASE_URL: database, LOG_LEVEL: "fatal" };
  return { dir, database, env };
}

async function withInstance<T>(
  driver: Driver,
  extra: Record<string, string>,
  fn: (url: string, dbFile: string, pid: number) => Promise<T>,
): Promise<T> {
  const { dir, database, env: base } = await benchPlace(driver);
  const env = { ...base, SWEEP_INTERVAL_MS: "1000", ...extra };
  const child = await spawnFila(env, undefined, START_FLAGS);
  try {
    await warmUp(child.url!, locatorOf(database));
    return await fn(child.url!, locatorOf(database), child.pid);
  } finally {
    child.kill("SIGKILL");
    await child.exited;
    await Deno.remove(dir, { recursive: true });
  }
}

async function post(url: string, body: unknown): Promise<Response> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.body?.cancel();
  return res;
}

/** Waits until `n` tasks succeeded; returns the newest finished_at (epoch ms). */
async function waitAllDone(dbFile: string, n: number): Promise<number> {
  const db = benchDb(dbFile);
  try {
    for (let i = 0; i < 6_000; i++) {
      const r = await db.execute(
        "SELECT count(*) AS n, max(finished_at) AS last FROM tasks WHERE status = 'succeeded'",
      );
      if (Number(r.rows[0].n) >= n) return Number(r.rows[0].last);
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error("tasks did not finish in time");
  } finally {
    db.close();
  }
}

/** Runs WARMUP noop tasks, one POST each, and waits until they are done. */
async function warmUp(url: string, dbFile: string): Promise<void> {
  for (let n = 0; n < WARMUP; n++) {
    const res = await post(`${url}/tasks`, { type: "noop", payload: { n } });
    if (res.status !== 202) throw new Error(`warm-up POST answered ${res.status}`);
  }
  await waitAllDone(dbFile, WARMUP);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function peakRssMb(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = Number(status.match(/VmHWM:\s+(\d+)/)?.[1] ?? NaN);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

async function endToEndBatch(url: string, dbFile: string): Promise<number> {
  const t0 = Date.now();
  for (let i = 0; i < N; i += 1_000) {
    const tasks = Array.from(
      { length: Math.min(1_000, N - i) },
      (_, k) => ({ type: "noop", payload: { n: i + k } }),
    );
    const res = await post(`${url}/tasks/batch`, { tasks });
    if (res.status !== 202) throw new Error(`batch answered ${res.status}`);
  }
  const last = await waitAllDone(dbFile, WARMUP + N);
  return N / ((last - t0) / 1000);
}

async function endToEndSingles(url: string, dbFile: string, already: number): Promise<number> {
  const t0 = Date.now();
  let next = 0;
  const client = async () => {
    while (next < N) {
      const n = next++;
      const res = await post(`${url}/tasks`, { type: "noop", payload: { n } });
      if (res.status !== 202) throw new Error(`POST answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, client));
  const last = await waitAllDone(dbFile, already + N);
  return N / ((last - t0) / 1000);
}

/** Fires `fn` at `rate` per second for `seconds`; resolves the results of every call. */
async function atRate<T>(
  rate: number,
  seconds: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const total = rate * seconds;
  const start = performance.now();
  const pending: Promise<T>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(fn(i));
  }
  return Promise.all(pending);
}

/** Epoch ms with sub-ms precision (the clock timed noop reports in). */
const preciseNow = () => performance.timeOrigin + performance.now();

/**
 * Round trips of `send` at `rate` per second for POST_SECONDS, after WARM_SECONDS
 * at the same rate unrecorded; sorted, with the status codes seen.
 */
async function requestLatency(
  url: string,
  rate: number,
  send: (http: LeanHttpPool, n: number) => Promise<LeanResponse>,
): Promise<{ times: number[]; statuses: Set<number> }> {
  const statuses = new Set<number>();
  const http = await LeanHttpPool.open(url);
  try {
    const once = async (n: number) => {
      const t = performance.now();
      statuses.add((await send(http, n)).status);
      return performance.now() - t;
    };
    await atRate(rate, WARM_SECONDS, once);
    const times = await atRate(rate, POST_SECONDS, once);
    return { times: times.sort((a, b) => a - b), statuses };
  } finally {
    http.close();
  }
}

/**
 * 200 tasks/s; per task, the task's own end (timed noop's t_end, as the peers
 * measure) and the stored finished_at (ms resolution), each minus the moment
 * just before the submit.
 */
async function submitToDone(
  url: string,
  dbFile: string,
): Promise<{ toEnd: number[]; toStored: number[] }> {
  const http = await LeanHttpPool.open(url);
  const submitted = await atRate(200, RATE_SECONDS, async (n) => {
    const before = preciseNow();
    const res = await http.request("POST", "/tasks", {
      type: "noop",
      payload: { n, timed: true },
    });
    if (res.status !== 202) throw new Error(`POST answered ${res.status}`);
    return { id: JSON.parse(res.body).id as string, before };
  });
  http.close();
  const db = benchDb(dbFile);
  try {
    await waitAllDone(dbFile, WARMUP + submitted.length);
    const rows = await db.execute("SELECT id, result, finished_at FROM tasks");
    const byId = new Map(rows.rows.map((r) => [String(r.id), r]));
    const toEnd = submitted.map((s) => JSON.parse(String(byId.get(s.id)!.result)).t_end - s.before);
    const toStored = submitted.map((s) => Number(byId.get(s.id)!.finished_at) - s.before);
    return { toEnd: toEnd.sort((a, b) => a - b), toStored: toStored.sort((a, b) => a - b) };
  } finally {
    db.close();
  }
}

async function drain(driver: Driver): Promise<number> {
  const { dir, database, env } = await benchPlace(driver);
  const api = await spawnFila({ ...env, ROLE: "api" }, undefined, START_FLAGS);
  try {
    for (let i = 0; i < N; i += 1_000) {
      await post(`${api.url}/tasks/batch`, {
        tasks: Array.from({ length: 1_000 }, () => ({ type: "noop" })),
      });
    }
  } finally {
    api.kill("SIGTERM");
    await api.exited;
  }
  const t0 = Date.now();
  const worker = await spawnFila(
    { ...env, ROLE: "all", SWEEP_INTERVAL_MS: "100" },
    undefined,
    START_FLAGS,
  );
  try {
    const db = benchDb(locatorOf(database));
    await waitAllDone(locatorOf(database), N);
    const r = await db.execute(
      "SELECT min(started_at) AS first, max(finished_at) AS last FROM tasks",
    );
    db.close();
    const first = Number(r.rows[0].first), last = Number(r.rows[0].last);
    console.error(`  (drain incl. start-up: ${(N / ((last - t0) / 1000)).toFixed(0)} tasks/s)`);
    return N / ((last - first) / 1000);
  } finally {
    worker.kill("SIGKILL");
    await worker.exited;
    await Deno.remove(dir, { recursive: true });
  }
}

/** One run of every measurement on `driver`: fresh instances, figures by metric. */
async function measure(driver: Driver): Promise<Figures> {
  const figures: Figures = {};
  console.error(`driver ${driver}: end-to-end…`);
  await withInstance(driver, {}, async (url, dbFile, pid) => {
    figures[`end-to-end, /tasks/batch of 1,000, tasks/s (n=${N})`] =
      (await endToEndBatch(url, dbFile)).toFixed(0);
    figures[`end-to-end, single POSTs x32 clients, tasks/s (n=${N})`] =
      (await endToEndSingles(url, dbFile, WARMUP + N))
        .toFixed(0);
    figures["peak RSS during end-to-end, MiB"] = peakRssMb(pid).toFixed(1);
  });
  console.error(`driver ${driver}: latency…`);
  await withInstance(driver, {}, async (url, dbFile) => {
    const { toEnd, toStored } = await submitToDone(url, dbFile);
    figures[`submit→done @200/s p50, ms`] = percentile(toEnd, 50).toFixed(2);
    figures[`submit→done @200/s p99, ms`] = percentile(toEnd, 99).toFixed(2);
    figures[`submit→stored finished_at @200/s p50, ms (1 ms resolution)`] = percentile(
      toStored,
      50,
    ).toFixed(2);
    figures[`submit→stored finished_at @200/s p99, ms (1 ms resolution)`] = percentile(
      toStored,
      99,
    ).toFixed(2);
  });
  const upstream = startFakeAwesomeApi();
  await withInstance(driver, { QUOTES_API_URL: upstream.url }, async (url) => {
    // one stored reading, so /currency answers 200 from memory as in production
    await (await fetch(`${url}/currency/latest`)).body?.cancel();
    const { times: lat } = await requestLatency(url, 500, async (http, n) => {
      const res = await http.request("POST", "/tasks", { type: "noop", payload: { n } });
      if (res.status !== 202) throw new Error(`POST answered ${res.status}`);
      return res;
    });
    figures["POST /tasks @500/s p50, ms"] = percentile(lat, 50).toFixed(2);
    figures["POST /tasks @500/s p99, ms"] = percentile(lat, 99).toFixed(2);
    // the statuses seen are printed, so a run that did not answer 200 is not mistaken for one
    const cur = await requestLatency(url, 2_000, (http) => http.request("GET", "/currency"));
    const seen = [...cur.statuses].join("/");
    figures[`GET /currency @2000/s p50, ms (HTTP ${seen})`] = percentile(cur.times, 50).toFixed(2);
    figures[`GET /currency @2000/s p99, ms (HTTP ${seen})`] = percentile(cur.times, 99).toFixed(2);
  });
  await upstream.close();
  console.error(`driver ${driver}: drain…`);
  figures[`drain of ${N} pre-queued, tasks/s`] = (await drain(driver)).toFixed(0);
  if (storeOf(driver) === "postgres") Object.assign(figures, await measureShared(driver));
  return figures;
}

/**
 * What only a shared store has (PostgreSQL): several instances on one database.
 * Instances run with the start flags, as above, each warmed with WARMUP tasks.
 */
async function measureShared(driver: Driver): Promise<Figures> {
  const figures: Figures = {};
  console.error(`driver ${driver}: end-to-end with 3 instances…`);
  figures[`end-to-end, 3 instances, /tasks/batch of 1,000, tasks/s (n=${N})`] =
    (await endToEndThreeInstances(driver)).toFixed(0);
  console.error(`driver ${driver}: submit→done across instances…`);
  const { toEnd } = await crossInstanceSubmitToDone(driver);
  figures["submit→done across instances @200/s p50, ms"] = percentile(toEnd, 50).toFixed(2);
  figures["submit→done across instances @200/s p99, ms"] = percentile(toEnd, 99).toFixed(2);
  return figures;
}

/** Instances on one new database (every ROLE given), warmed, then `fn`; all killed after. */
async function withInstances<T>(
  driver: Driver,
  roles: string[],
  fn: (urls: (string | null)[], dbUrl: string) => Promise<T>,
): Promise<T> {
  const { dir, database, env: base } = await benchPlace(driver);
  const env = { ...base, SWEEP_INTERVAL_MS: "1000" };
  const children: ChildFila[] = [];
  try {
    for (const role of roles) {
      children.push(await spawnFila({ ...env, ROLE: role }, undefined, START_FLAGS));
    }
    // every worker warmed: WARMUP tasks through each instance that serves the API
    const apis = children.filter((c) => c.url !== null && roles[children.indexOf(c)] !== "worker");
    for (const [i, api] of apis.entries()) {
      for (let n = 0; n < WARMUP; n++) {
        const res = await post(`${api.url}/tasks`, { type: "noop", payload: { n } });
        if (res.status !== 202) throw new Error(`warm-up POST answered ${res.status}`);
      }
      await waitAllDone(locatorOf(database), WARMUP * (i + 1));
    }
    return await fn(children.map((c) => c.url), locatorOf(database));
  } finally {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    await Deno.remove(dir, { recursive: true });
  }
}

/** N noop tasks as batches of 1,000, one client per instance, 3 instances on one database. */
function endToEndThreeInstances(driver: Driver): Promise<number> {
  return withInstances(driver, ["all", "all", "all"], async (urls, dbUrl) => {
    const t0 = Date.now();
    let next = 0;
    await Promise.all(urls.map(async (url) => {
      while (next < N) {
        const from = next;
        next += 1_000;
        const tasks = Array.from(
          { length: Math.min(1_000, N - from) },
          (_, k) => ({ type: "noop", payload: { n: from + k } }),
        );
        const res = await post(`${url}/tasks/batch`, { tasks });
        if (res.status !== 202) throw new Error(`batch answered ${res.status}`);
      }
    }));
    const last = await waitAllDone(dbUrl, WARMUP * 3 + N);
    return N / ((last - t0) / 1000);
  });
}

/** submit→done (the task's own t_end) for tasks submitted to an api instance, run by a worker one. */
function crossInstanceSubmitToDone(driver: Driver) {
  return withInstances(driver, ["api", "worker"], (urls, dbUrl) => submitToDone(urls[0]!, dbUrl));
}

/** Per metric, the median of the runs' figures (printed with the first run's decimals). */
function medians(runs: Figures[]): Figures {
  const out: Figures = {};
  for (const metric of new Set(runs.flatMap((figures) => Object.keys(figures)))) {
    const texts = runs.map((figures) => figures[metric]).filter((t) => t !== undefined);
    const values = texts.map(Number).sort((a, b) => a - b);
    const decimals = texts[0].split(".")[1]?.length ?? 0;
    out[metric] = percentile(values, 50).toFixed(decimals);
  }
  return out;
}

const soakArg = Deno.args.find((a) => a === "--soak" || a.startsWith("--soak="));
if (soakArg) {
  const seconds = soakArg.includes("=") ? Number(soakArg.split("=")[1]) : 600;
  const rate = Number(Deno.args.find((a) => a.startsWith("--soak-rate="))?.split("=")[1] ?? 300);
  const lines: string[] = [];
  // the soak runs on libSQL only (soak.ts): the pg driver has no embedded store to soak
  for (const driver of drivers.filter((d): d is "kv" | "db" => d !== "pg")) {
    console.error(`soak, driver ${driver}: ${seconds} s at ${rate} tasks/s…`);
    const report = await runSoak({
      driver,
      store: "libsql",
      seconds,
      rate,
      dashboard: !Deno.args.includes("--soak-no-dashboard"),
      denoFlags: START_FLAGS,
    });
    lines.push(...formatSoak(report));
  }
  console.log(
    `\nFila soak ${
      new Date().toISOString()
    } (${Deno.build.os}, ${navigator.hardwareConcurrency} cores)`,
  );
  for (const line of lines) console.log(line);
  Deno.exit(0);
}
if (Deno.args.includes("--contention")) {
  await import("./contention.ts");
  Deno.exit(0);
}

// drivers take turns run by run, so a slow spell of the machine does not land on one of them
const perDriver: Record<string, Figures[]> = {};
try {
  for (let run = 1; run <= RUNS; run++) {
    for (const driver of drivers) {
      console.error(`run ${run} of ${RUNS}:`);
      (perDriver[driver] ??= []).push(await measure(driver));
    }
  }
} finally {
  await stopBenchCluster();
}
const results: Record<string, Figures> = {};
for (const driver of drivers) results[driver] = medians(perDriver[driver]);

const metrics = [...new Set(drivers.flatMap((d) => Object.keys(results[d])))];
console.log(
  `\nFila bench ${
    new Date().toISOString()
  } (${Deno.build.os}, ${navigator.hardwareConcurrency} cores; medians of ${RUNS} run(s))\n`,
);
console.log(`| metric | ${drivers.join(" | ")} |`);
console.log(`| --- | ${drivers.map(() => "--:").join(" | ")} |`);
for (const m of metrics) {
  console.log(`| ${m} | ${drivers.map((d) => results[d][m] ?? "–").join(" | ")} |`);
}

if (results.kv && results.db) {
  console.log("\nThe db driver relative to kv (target: within 30 %):");
  for (const m of metrics) {
    const ratio = Number(results.db[m]) / Number(results.kv[m]);
    if (Number.isFinite(ratio)) console.log(`- ${m}: db/kv = ${ratio.toFixed(2)}`);
  }
}

if (results.pg && results.kv) {
  console.log("\nThe pg driver on PostgreSQL relative to kv on libSQL (same run):");
  for (const m of metrics) {
    const ratio = Number(results.pg[m]) / Number(results.kv[m]);
    if (Number.isFinite(ratio)) console.log(`- ${m}: pg/kv = ${ratio.toFixed(2)}`);
  }
}

if (!Deno.args.includes("--no-csv")) {
  // process_csv on a generated file (tests/bench/csv_bench.ts, owned by the CSV work).
  const rows = quick ? 50_000 : 1_000_000;
  console.error(`process_csv on ${rows} rows…`);
  const { runCsvBench } = await import("./csv_bench.ts");
  const csv = await runCsvBench(rows, START_FLAGS);
  console.log(
    `\nprocess_csv, ${rows} rows: ${csv.rowsPerSecond.toFixed(0)} rows/s, peak RSS ${
      csv.peakRssMb.toFixed(1)
    } MB`,
  );
}

/** graphile-worker and pg-boss run on PostgreSQL: Fila's pg driver is what they compare with. */
/** The peers' figures as a table (median of their runs). */
function printPeers(peer: string, source: string, peers: PeerFigures[]): void {
  console.log(`\nPeers (${peer}, ${source})\n`);
  console.log(
    "| peer | end-to-end jobs/s | drain jobs/s | p50 @200/s ms | p99 @200/s ms | workers peak RSS MiB |",
  );
  console.log("| --- | --: | --: | --: | --: | --: |");
  for (const p of peers) {
    console.log(
      `| ${p.variant} | ${p.e2eRate.toFixed(0)} | ${p.drainRate.toFixed(0)} | ${
        p.p50Ms.toFixed(2)
      } | ${p.p99Ms.toFixed(2)} | ${p.workersPeakRssMib.toFixed(1)} |`,
    );
  }
}

const isPostgresPeer = (peer: string) => peer === "graphile" || peer.startsWith("pgboss");

if (vs && vs.split(",").some((peer) => !isPostgresPeer(peer))) {
  const fila = results.kv ?? results[drivers[0]];
  const pick = (prefix: string) =>
    Number(Object.entries(fila).find(([k]) => k.startsWith(prefix))?.[1]);
  const stored = Deno.args.includes("--stored");
  const source = stored
    ? "medians of the stored runs in ../shared/peers/results"
    : "medians of this run's 3 runs per phase";
  const targets: string[] = [];
  // --vs bullmq,celery compares with each in turn
  for (const peer of vs.split(",").filter((p) => !isPostgresPeer(p))) {
    const peers = stored ? await readPeer(peer) : await readPeer(peer, await runPeer(peer));
    printPeers(peer, source, peers);
    const best = Math.max(...peers.map((p) => p.e2eRate));
    // issue 8: batches ≥ 1.5× BullMQ end-to-end; single POSTs ×32 ≥ 3× Celery's
    const [how, factor] = peer === "bullmq"
      ? ["end-to-end, /tasks/batch", 1.5]
      : peer === "celery"
      ? ["end-to-end, single POSTs", 3]
      : ["end-to-end, /tasks/batch", null];
    const rate = pick(how);
    targets.push(
      `- ${how}: ${rate} vs ${peer} ${best.toFixed(0)}: ${(rate / best).toFixed(2)}x${
        factor ? ` (target ${factor}x)` : ""
      }`,
    );
  }
  console.log("\nFila (kv) against the issue-8 targets:");
  for (const line of targets) console.log(line);
  console.log(
    `- submit→done p50 ${pick("submit→done @200/s p50")} ms (target ≤ 1.5), p99 ${
      pick("submit→done @200/s p99")
    } ms (target ≤ 3)`,
  );
  console.log(
    `- POST /tasks p99 @500/s ${
      pick("POST /tasks @500/s p99")
    } ms (target ≤ 5); GET /currency p99 @2000/s ${
      pick("GET /currency @2000/s p99")
    } ms (target ≤ 2)`,
  );
  console.log(`- peak RSS ${pick("peak RSS")} MiB (target ≤ 120)`);
}

if (vs && vs.split(",").some(isPostgresPeer)) {
  const fila = results.pg;
  if (!fila) throw new Error("--vs graphile/pgboss compares the pg driver: add --store=postgres");
  const pick = (prefix: string) =>
    Number(Object.entries(fila).find(([k]) => k.startsWith(prefix))?.[1]);
  const stored = Deno.args.includes("--stored");
  const targets: string[] = [];
  for (const peer of vs.split(",").filter(isPostgresPeer)) {
    let peers = stored ? await readPeer(peer) : await readPeer(peer, await runPeer(peer));
    let source = stored
      ? "medians of the stored runs in ../shared/peers/results"
      : "medians of this run's 3 runs per phase";
    if (peers.length === 0 && stored) {
      // their full runs are written up in ../shared/peers/README.md, not kept in results/
      peers = STORED_POSTGRES_PEERS.filter((p) => p.variant.startsWith(peer));
      source = "medians in ../shared/peers/README.md, full runs of 2026-12-02";
    }
    printPeers(peer, source, peers);
    const best = Math.max(...peers.map((p) => p.e2eRate));
    const rate = pick("end-to-end, /tasks/batch");
    const shared = pick("end-to-end, 3 instances");
    targets.push(
      `- end-to-end, /tasks/batch: ${rate} vs ${peer} ${best.toFixed(0)}: ${
        (rate / best).toFixed(2)
      }x (target 3x); with 3 instances ${shared}: ${(shared / best).toFixed(2)}x`,
    );
  }
  console.log("\nFila (pg driver, PostgreSQL) against the issue-15 targets:");
  for (const line of targets) console.log(line);
  console.log(
    `- submit→done across instances p50 ${
      pick("submit→done across instances @200/s p50")
    } ms (target ≤ 5), p99 ${pick("submit→done across instances @200/s p99")} ms (target ≤ 20)`,
  );
  console.log(
    `- submit→done on one instance p99 ${pick("submit→done @200/s p99")} ms (target ≤ 10)`,
  );
}
