/**
 * The soak figure of `deno task bench --soak[=SECONDS]` (issue #20): one instance
 * (a child process with `deno task start`'s runtime flags) under sustained load
 * at a fixed rate, as an operator would run it, while its memory is sampled.
 *
 * Load, all at once for the whole run:
 *  - posters: `rate` noop tasks a second, single POSTs over `connections`
 *    kept-alive connections;
 *  - SSE followers: each submits a `work` task (2 s, ten progress steps) and holds
 *    `GET /tasks/:id/events` open until the task ends, then the next;
 *  - the dashboard's polling, as routes/dashboard/app.js does while its views are
 *    open: /queue/stats every 2 s, /tasks?limit=20 every 1.5 s, the newest task
 *    every 1 s, /currency every 5 s; and a Prometheus scrape of /metrics every 10 s.
 *
 * Memory: RSS, RssAnon and RssFile from /proc/<pid>/status; the V8 heap (used,
 * total) from the instance's own /metrics; "native" is RssAnon minus the V8 heap
 * total (malloc'd memory: SQLite, libsql, Deno's runtime). Printed at start,
 * after warm-up and every minute. Growth per 100,000 tasks after warm-up, from a
 * sample every 10 s: the least-squares slope, and the floor's (the lowest sample
 * of the first third to the lowest of the last), which the target applies to, on
 * RssAnon (RssFile is the binary's pages as code paths are first run): ≤ 0.5 MiB
 * per 100,000 (5 MiB per 1,000,000 tasks); a 10-minute run resolves it to about
 * ±0.5 MiB, an hour's (1,000,000 tasks at 300/s) to ±0.1. Retained memory lifts the
 * floor; transient peaks do not: the V8 heap's sawtooth, and malloc keeping the
 * working set of /queue/stats' throughput query (it sorts every task finished in
 * the last 15 minutes: ~19 MiB at 300/s), whose peaks rise for the first 15 minutes.
 */
import { spawnFila, testEnv } from "../support/harness.ts";
import { startFakeAwesomeApi } from "../support/fake_awesomeapi.ts";
import { LeanHttpPool } from "./lean_http.ts";

/** The stores the soak can run on (a future `postgres` joins here and in `storeEnv`). */
export type SoakStore = "libsql";

export interface SoakOptions {
  driver: "kv" | "db";
  store: SoakStore;
  /** Length of the whole run, warm-up included. */
  seconds: number;
  /** noop tasks submitted per second. */
  rate?: number;
  connections?: number;
  followers?: number;
  /** Load before the growth is measured (default: a quarter of the run, 10 to 180 s). */
  warmupSeconds?: number;
  /** Poll as the dashboard does (default true). */
  dashboard?: boolean;
  /** Runtime flags of the instance (the bench passes `deno task start`'s). */
  denoFlags?: string[];
  /** Extra environment of the instance (e.g. glibc's MALLOC_* settings, to compare). */
  env?: Record<string, string>;
  /** Where progress lines go (default stderr). */
  log?: (line: string) => void;
}

export interface SoakSample {
  atSeconds: number;
  label: string;
  tasksDone: number;
  rssMiB: number;
  anonMiB: number;
  fileMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  /** RssAnon minus the V8 heap total. */
  nativeMiB: number;
}

export interface SoakReport {
  options: Required<Omit<SoakOptions, "log" | "denoFlags" | "env">>;
  samples: SoakSample[];
  /** The samples printed (start, warm-up, every minute, end). */
  printed: SoakSample[];
  /** MiB per 100,000 tasks after warm-up, by figure. */
  growthPer100k: { rss: number; anon: number; native: number; heapUsed: number };
  /**
   * MiB per 100,000 tasks between the lowest RSS / RssAnon of the first and of the
   * last third after warm-up: what stays, with the transient peaks left out (the
   * V8 heap's sawtooth, a query's working set that malloc keeps for the next one).
   */
  floorGrowthPer100k: { rss: number; anon: number };
  submitted: number;
  errors: number;
  sseFrames: number;
  polls: number;
}

const MiB = 1024 * 1024;
const SAMPLE_EVERY_MS = 10_000;
const FOLLOW_TASK_MS = 2_000;
/** Outstanding POSTs per connection before the posters wait. */
const MAX_IN_FLIGHT = 4;

/** The environment that points an instance at `store` in `dir`. */
function storeEnv(store: SoakStore, dir: string, driver: "kv" | "db"): Record<string, string> {
  switch (store) {
    case "libsql":
      return testEnv(dir, driver); // an embedded file:, as `deno task start` defaults to
  }
  throw new Error(`unknown store ${store}`);
}

function procStatus(pid: number): { rss: number; anon: number; file: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (field: string) => Number(status.match(new RegExp(`${field}:\\s+(\\d+)`))?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, anon: kb("RssAnon") / 1024, file: kb("RssFile") / 1024 };
}

function metric(text: string, name: string): number {
  return Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? NaN);
}

/** Task attempts that succeeded on the instance, all types (fila_task_attempts_finished_total). */
function succeeded(metrics: string): number {
  let n = 0;
  for (
    const [, value] of metrics.matchAll(
      /^fila_task_attempts_finished_total\{[^}]*outcome="succeeded"[^}]*\} (\S+)$/gm,
    )
  ) {
    n += Number(value);
  }
  return n;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  return sxx === 0 ? NaN : sxy / sxx;
}

/** Per task, from the lowest `pick` of the first third of `samples` to that of the last third. */
function floorGrowth(samples: SoakSample[], pick: (s: SoakSample) => number): number {
  const third = Math.floor(samples.length / 3);
  if (third < 1) return NaN;
  const lowest = (part: SoakSample[]) =>
    part.reduce((low, s) => (pick(s) < pick(low) ? s : low), part[0]);
  const first = lowest(samples.slice(0, third));
  const last = lowest(samples.slice(-third));
  const tasks = last.tasksDone - first.tasksDone;
  return tasks > 0 ? (pick(last) - pick(first)) / tasks : NaN;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Runs the soak on a fresh instance and returns its samples and growth figures. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const opts = {
    driver: options.driver,
    store: options.store,
    seconds: options.seconds,
    rate: options.rate ?? 300,
    connections: options.connections ?? 4,
    followers: options.followers ?? 4,
    dashboard: options.dashboard ?? true,
    // the caches (SQLite's pages, prepared statements, V8's heap) fill for ~2 minutes
    warmupSeconds: options.warmupSeconds ??
      Math.min(180, Math.max(10, Math.round(options.seconds / 4))),
  };
  const log = options.log ?? ((line: string) => console.error(line));
  const upstream = startFakeAwesomeApi();
  const dir = await Deno.makeTempDir({ prefix: "fila-soak-" });
  const env = {
    ...storeEnv(opts.store, dir, opts.driver),
    LOG_LEVEL: "fatal",
    SWEEP_INTERVAL_MS: "2000", // the default, as an operator runs it
    QUOTES_API_URL: upstream.url,
    ...options.env,
  };
  const child = await spawnFila(env, undefined, options.denoFlags ?? []);
  const url = child.url!;
  const stop = new AbortController();
  let submitted = 0, errors = 0, sseFrames = 0, polls = 0, inFlight = 0;
  let newestId: string | null = null;
  const http = await LeanHttpPool.open(url, opts.connections);
  try {
    // one stored reading, so /currency answers 200 as in production
    await (await fetch(`${url}/currency/latest`)).body?.cancel();

    // from /metrics alone: /queue/stats runs the throughput query, whose working set
    // is what --soak-no-dashboard leaves out
    const sample = async (label: string, startedAt: number): Promise<SoakSample> => {
      const metrics = await fetch(`${url}/metrics`).then((r) => r.text());
      const proc = procStatus(child.pid);
      const heapTotalMiB = metric(metrics, "nodejs_heap_size_total_bytes") / MiB;
      return {
        atSeconds: Math.round((performance.now() - startedAt) / 1000),
        label,
        tasksDone: succeeded(metrics),
        rssMiB: proc.rss,
        anonMiB: proc.anon,
        fileMiB: proc.file,
        heapUsedMiB: metric(metrics, "nodejs_heap_size_used_bytes") / MiB,
        heapTotalMiB,
        nativeMiB: proc.anon - heapTotalMiB,
      };
    };

    const t0 = performance.now();
    const samples: SoakSample[] = [await sample("start", t0)];
    const printed: SoakSample[] = [samples[0]];
    const show = (s: SoakSample) =>
      log(
        `  ${s.label.padEnd(10)} ${String(s.tasksDone).padStart(9)} tasks  RSS ${
          s.rssMiB.toFixed(1)
        }  RssAnon ${s.anonMiB.toFixed(1)}  heap ${s.heapUsedMiB.toFixed(1)}/${
          s.heapTotalMiB.toFixed(1)
        }  native ${s.nativeMiB.toFixed(1)} MiB`,
      );
    show(samples[0]);

    // posters: noop at a fixed rate, at most MAX_IN_FLIGHT per connection outstanding: a
    // slow instance (or a busy machine) lowers the rate achieved instead of piling up
    // requests in this process; the figures count tasks done, not tasks asked for
    const posters = (async () => {
      const start = performance.now();
      for (let i = 0; !stop.signal.aborted; i++) {
        const wait = start + (i * 1000) / opts.rate - performance.now();
        if (wait > 1) await sleep(wait, stop.signal);
        while (inFlight >= opts.connections * MAX_IN_FLIGHT && !stop.signal.aborted) {
          await sleep(1);
        }
        if (stop.signal.aborted) break;
        inFlight++;
        http.request("POST", "/tasks", { type: "noop", payload: { i } }).then((res) => {
          if (res.status !== 202) {
            errors++;
            return;
          }
          submitted++;
          if (i % 50 === 0) newestId = JSON.parse(res.body).id;
        }, () => errors++).finally(() => inFlight--);
      }
      // the last submissions are answered before the connections close
      for (let waited = 0; inFlight > 0 && waited < 10_000; waited += 10) await sleep(10);
    })();

    // SSE followers: a running task each, followed until it ends
    const follower = async () => {
      while (!stop.signal.aborted) {
        try {
          const res = await fetch(`${url}/tasks`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ type: "work", payload: { duration_ms: FOLLOW_TASK_MS } }),
          });
          const { id } = await res.json();
          submitted++;
          const events = await fetch(`${url}/tasks/${id}/events`);
          const text = await events.text();
          sseFrames += text.split("\n\n").filter((f) => f.startsWith("event:")).length;
          if (!text.includes("event: end")) errors++;
        } catch {
          if (!stop.signal.aborted) errors++;
        }
      }
    };
    const followers = Array.from({ length: opts.followers }, follower);

    // the dashboard's polling, and a Prometheus scrape
    const every = async (ms: number, path: () => string | null) => {
      while (!stop.signal.aborted) {
        const target = path();
        if (target) {
          try {
            const res = await fetch(url + target);
            await res.body?.cancel();
            polls++;
            if (res.status !== 200) errors++;
          } catch {
            errors++;
          }
        }
        await sleep(ms, stop.signal);
      }
    };
    const pollers = opts.dashboard
      ? [
        every(2_000, () => "/queue/stats"),
        every(1_500, () => "/tasks?limit=20&offset=0"),
        every(1_000, () => newestId && `/tasks/${newestId}`),
        every(5_000, () => "/currency"),
        every(10_000, () => "/metrics"),
      ]
      : [];

    // samples every 10 s; printed after warm-up and at every full minute
    let warmed = false;
    for (let next = SAMPLE_EVERY_MS; next <= opts.seconds * 1000; next += SAMPLE_EVERY_MS) {
      await sleep(t0 + next - performance.now());
      const atWarmup = !warmed && next >= opts.warmupSeconds * 1000;
      const minute = next % 60_000 === 0;
      const last = next + SAMPLE_EVERY_MS > opts.seconds * 1000;
      const s = await sample(
        atWarmup ? "warm-up" : last ? "end" : minute ? `${next / 60_000} min` : "",
        t0,
      );
      if (atWarmup) warmed = true;
      if (warmed) samples.push(s);
      if (atWarmup || minute || last) {
        printed.push(s);
        show(s);
      }
    }
    stop.abort();
    await Promise.all([posters, ...followers, ...pollers]);

    const after = samples.slice(1); // from the warm-up sample on
    const tasks = after.map((s) => s.tasksDone);
    const per100k = (pick: (s: SoakSample) => number) => slope(tasks, after.map(pick)) * 100_000;
    return {
      options: opts,
      samples,
      printed,
      growthPer100k: {
        rss: per100k((s) => s.rssMiB),
        anon: per100k((s) => s.anonMiB),
        native: per100k((s) => s.nativeMiB),
        heapUsed: per100k((s) => s.heapUsedMiB),
      },
      floorGrowthPer100k: {
        rss: floorGrowth(after, (s) => s.rssMiB) * 100_000,
        anon: floorGrowth(after, (s) => s.anonMiB) * 100_000,
      },
      submitted,
      errors,
      sseFrames,
      polls,
    };
  } finally {
    stop.abort();
    http.close();
    child.kill("SIGKILL");
    await child.exited;
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The report as markdown lines, for the bench's output. */
export function formatSoak(report: SoakReport): string[] {
  const o = report.options;
  const g = report.growthPer100k;
  const floor = report.floorGrowthPer100k;
  const lines = [
    `\nSoak (${o.driver} driver, ${o.store} store): ${o.rate} noop/s over ${o.connections} ` +
    `connections, ${o.followers} SSE followers (work, ${FOLLOW_TASK_MS / 1000} s), ${
      o.dashboard ? "dashboard polling" : "no dashboard"
    }; ${o.seconds} s, warm-up ${o.warmupSeconds} s`,
    "",
    "| at | s | tasks done | RSS MiB | RssAnon MiB | RssFile MiB | V8 heap used/total MiB | native MiB |",
    "| --- | --: | --: | --: | --: | --: | --: | --: |",
  ];
  for (const s of report.printed) {
    lines.push(
      `| ${s.label} | ${s.atSeconds} | ${s.tasksDone} | ${s.rssMiB.toFixed(1)} | ${
        s.anonMiB.toFixed(1)
      } | ${s.fileMiB.toFixed(1)} | ${s.heapUsedMiB.toFixed(1)}/${s.heapTotalMiB.toFixed(1)} | ${
        s.nativeMiB.toFixed(1)
      } |`,
    );
  }
  const f = (v: number) => `${v >= 0 ? "+" : ""}${v.toFixed(2)}`;
  const verdict = (v: number) => (v <= 0.5 ? "met" : "not met");
  lines.push(
    "",
    `Growth per 100,000 tasks after warm-up (least squares, ${
      report.samples.length - 1
    } samples): RSS ${f(g.rss)} MiB, RssAnon ${f(g.anon)}, native ${f(g.native)}, V8 heap used ${
      f(g.heapUsed)
    }`,
    `Growth per 100,000 tasks of the floor (lowest of the first third to lowest of the last): RSS ${
      f(floor.rss)
    } MiB, RssAnon ${f(floor.anon)} (target, on RssAnon: ≤ 0.50, i.e. 5 MiB per 1,000,000 tasks: ${
      verdict(floor.anon)
    })`,
    `Submitted ${report.submitted} (${
      (report.submitted / o.seconds).toFixed(0)
    }/s achieved), done ${report.samples.at(-1)!.tasksDone} at the last sample, ` +
      `errors ${report.errors}, SSE frames ${report.sseFrames}, dashboard/scrape requests ${report.polls}`,
  );
  return lines;
}
