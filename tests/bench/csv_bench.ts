/**
 * rows/s of process_csv on a generated 1,000,000-row sales file (parsed, stats,
 * stored in `sales`), and the instance's peak RSS. Runnable alone:
 * `deno run -A tests/bench/csv_bench.ts [rows] [deno flags…]`.
 */
import { clientFor, spawnFila, testEnv } from "../support/harness.ts";

export async function runCsvBench(
  rows = 1_000_000,
  denoFlags: string[] = [],
): Promise<{ rowsPerSecond: number; peakRssMb: number }> {
  const dir = await Deno.makeTempDir({ prefix: "fila-bench-csv-" });
  const child = await spawnFila(
    { ...testEnv(dir, "kv"), LOG_LEVEL: "fatal" },
    undefined,
    denoFlags,
  );
  try {
    const api = clientFor(child.url!);
    const { body } = await api.post("/tasks", {
      type: "process_csv",
      payload: { filename: "bench.csv", num_rows: rows },
    });
    const done = await api.waitForTask(body.id, undefined, 600_000);
    if (done.status !== "succeeded") {
      throw new Error(`process_csv ended ${done.status}: ${done.error}`);
    }
    const seconds = (Date.parse(done.finished_at) - Date.parse(done.started_at)) / 1000;
    const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
    const peakRssMb = Number(status.match(/VmHWM:\s+(\d+)/)?.[1] ?? NaN) / 1024;
    return { rowsPerSecond: rows / seconds, peakRssMb };
  } finally {
    child.kill("SIGKILL");
    await child.exited;
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const rows = Number(Deno.args[0] ?? 1_000_000);
  const { rowsPerSecond, peakRssMb } = await runCsvBench(rows, Deno.args.slice(1));
  console.log(
    `process_csv ${rows} rows: ${rowsPerSecond.toFixed(0)} rows/s, peak RSS ${
      peakRssMb.toFixed(1)
    } MiB`,
  );
}
