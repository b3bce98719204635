/**
 * Heavy reads and a long purge beside a neighbour, at 100,000 tasks (issue 13's
 * figures): `deno task bench -- --contention` or
 * `deno run -A --lock=tests/deno.lock tests/bench/contention.ts [tasks]`.
 * Prints figures; asserts nothing.
 *
 *   /queue/stats, /metrics, GET /tasks?status=succeeded : the first answer, then 20 sequential
 *                                                         requests: p50 / max (counts are shared
 *                                                         for a moment once counting is slow)
 *   neighbour /health during a purge                   : instance A deletes every task (ended 40
 *                                                         days ago, retention 30 days) while B,
 *                                                         on the same file, is asked /health every
 *                                                         50 ms; the slowest answer
 */
import { spawnFila, testEnv } from "../support/harness.ts";
import { openSql } from "../support/sql.ts";

const N = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 100_000);

async function timed(url: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(url);
  await res.body?.cancel();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return performance.now() - t;
}

/** The first answer (nothing shared yet), then p50 / max of `n` more. */
async function series(url: string, n = 20): Promise<string> {
  const first = await timed(url);
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(await timed(url));
  times.sort((a, b) => a - b);
  return `${first.toFixed(1)}; ${times[Math.floor(n / 2)].toFixed(1)} / ${times[n - 1].toFixed(1)}`;
}

const dir = await Deno.makeTempDir({ prefix: "fila-contention-" });
const env = { ...testEnv(dir), LOG_LEVEL: "fatal", TASK_RETENTION_DAYS: "0" };
const figures: [string, string][] = [];
const b = await spawnFila({ ...env, ROLE: "all" });
const db = openSql(`file:${dir}/fila.db`);
try {
  // N tasks that ended over the last 15 minutes, of a few types and statuses
  const now = Date.now();
  await db.query(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${N})
     INSERT INTO tasks (id, type, payload, status, priority, progress, attempts, max_attempts,
       timeout_ms, run_at, cancel_requested, created_at, updated_at, started_at, finished_at, note)
     SELECT printf('00000000-seed-7000-8000-%012d', i),
       CASE i % 4 WHEN 0 THEN 'noop' WHEN 1 THEN 'sum' WHEN 2 THEN 'uppercase' ELSE 'work' END,
       '{}', CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, i % 3, 100, 1, 3, 1000,
       ?, 0, ?, ?, ?, ? - (i % 900000), 'submitted' FROM n`,
    [now, now, now, now, now],
  );
  figures.push([`tasks stored`, N.toLocaleString("en")]);
  figures.push([`GET /queue/stats first; p50 / max, ms`, await series(`${b.url}/queue/stats`)]);
  figures.push([`GET /metrics first; p50 / max, ms`, await series(`${b.url}/metrics`)]);
  figures.push([
    `GET /tasks?status=succeeded first; p50 / max, ms`,
    await series(`${b.url}/tasks?status=succeeded`),
  ]);

  // the purge: A deletes them all at its first sweep, B answers /health meanwhile
  await db.query("UPDATE tasks SET finished_at = ? WHERE id LIKE '00000000-seed-%'", [
    now - 40 * 86_400_000,
  ]);
  let slowest = 0;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      slowest = Math.max(slowest, await timed(`${b.url}/health`).catch(() => Infinity));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const started = performance.now();
  const a = await spawnFila({ ...env, TASK_RETENTION_DAYS: "30", SWEEP_INTERVAL_MS: "200" });
  try {
    for (;;) {
      const [{ n }] = await db.query<{ n: number }>(
        "SELECT count(*) AS n FROM tasks WHERE id LIKE '00000000-seed-%'",
      );
      if (Number(n) === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const took = (performance.now() - started) / 1000;
    polling = false;
    await poll;
    figures.push([
      `purge of ${N.toLocaleString("en")} ended tasks, s (incl. start-up)`,
      took.toFixed(1),
    ]);
    figures.push([`neighbour's slowest /health during the purge, ms`, slowest.toFixed(1)]);
  } finally {
    a.kill("SIGKILL");
    await a.exited;
  }
} finally {
  await db.close();
  b.kill("SIGKILL");
  await b.exited;
  await Deno.remove(dir, { recursive: true });
}

console.log("\n| figure (issue 13) | value |\n| --- | --: |");
for (const [name, value] of figures) console.log(`| ${name} | ${value} |`);
