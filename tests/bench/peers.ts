/**
 * The peers' figures (Celery, RQ, BullMQ) from ../shared/peers: optionally runs
 * their harness (`run.sh <peer>`), then reads results/<variant>.jsonl and takes
 * the median of each metric over the runs, as the peers' README does.
 */

export interface PeerFigures {
  variant: string;
  e2eRate: number;
  drainRate: number;
  p50Ms: number;
  p99Ms: number;
  workersPeakRssMib: number;
}

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Where shared/ sits: beside the repository (../shared), as on CI and here. */
export function sharedPeersDir(): string {
  return new URL("../../../shared/peers/", import.meta.url).pathname;
}

/**
 * Runs the peer's own harness (minutes; it installs redis and the peer with
 * apt/npm) and returns the folder of this run's results: a temporary one, so the
 * figures stored in shared/peers/results stay as they are.
 */
export async function runPeer(peer: string): Promise<string> {
  const resultsDir = await Deno.makeTempDir({ prefix: `fila-vs-${peer}-` });
  const status = await new Deno.Command("bash", {
    args: [`${sharedPeersDir()}run.sh`, peer],
    env: { BENCH_RESULTS_DIR: resultsDir },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) throw new Error(`run.sh ${peer} failed`);
  return resultsDir;
}

/**
 * Medians of every variant of `peer` (bullmq → bullmq-1x2 and bullmq-2x1) in
 * `dir`: a run's results, or by default the ones stored in shared/peers/results.
 */
export async function readPeer(
  peer: string,
  dir = `${sharedPeersDir()}results`,
): Promise<PeerFigures[]> {
  const out: PeerFigures[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.startsWith(peer) || !entry.name.endsWith(".jsonl")) continue;
    const rows = (await Deno.readTextFile(`${dir}/${entry.name}`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    const of = (phase: string, key: string) =>
      median(rows.filter((r) => r.phase === phase).map((r) => r[key]));
    out.push({
      variant: entry.name.replace(/\.jsonl$/, ""),
      e2eRate: of("e2e", "e2e_rate"),
      drainRate: of("enqueue_drain", "drain_rate"),
      p50Ms: of("latency", "p50_ms"),
      p99Ms: of("latency", "p99_ms"),
      workersPeakRssMib: of("e2e", "workers_peak_rss_mib"),
    });
  }
  return out.sort((a, b) => a.variant.localeCompare(b.variant));
}

/**
 * graphile-worker's and pg-boss's medians as ../shared/peers/README.md reports them (full runs
 * of 2026-12-02: 3 runs, N=20,000, PostgreSQL 15 at its defaults), for `--vs graphile,pgboss
 * --stored`: those runs' .jsonl files are not kept in results/.
 */
export const STORED_POSTGRES_PEERS: PeerFigures[] = [
  {
    variant: "graphile-1x2",
    e2eRate: 518,
    drainRate: 996,
    p50Ms: 2.93,
    p99Ms: 11.56,
    workersPeakRssMib: 97.6,
  },
  {
    variant: "graphile-2x1",
    e2eRate: 451,
    drainRate: 1179,
    p50Ms: 3.30,
    p99Ms: 12.69,
    workersPeakRssMib: 198.9,
  },
  {
    variant: "pgboss-1x2",
    e2eRate: 369,
    drainRate: 570,
    p50Ms: 3.76,
    p99Ms: 13.30,
    workersPeakRssMib: 122.8,
  },
];
