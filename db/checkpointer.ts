/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside
 * the COMMIT that takes the WAL past 1,000 pages: it copies those pages into the
 * database file and fsyncs it, on Fila's one JavaScript thread, every hundred or
 * so tasks. That stall was the tail of every latency figure. The store's
 * connection turns automatic checkpoints off and a worker thread runs PASSIVE
 * checkpoints on its own connection instead; if that thread fails, automatic
 * checkpoints come back on so the WAL cannot grow without bound.
 */
import { getLogger } from "@logtape/logtape";
import type { Client } from "@libsql/client";

const log = getLogger(["fila", "db"]);
const INTERVAL_MS = 200;

export class Checkpointer {
  private stopped = false;

  private constructor(private readonly worker: Worker) {}

  /** Starts checkpointing the database at `path` (in WAL mode) that `client` writes to. */
  static async start(path: string, client: Client): Promise<Checkpointer> {
    await client.execute("PRAGMA wal_autocheckpoint = 0");
    const worker = new Worker(new URL("./checkpoint_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const checkpointer = new Checkpointer(worker);
    const fallBack = (reason: string) => {
      if (checkpointer.stopped) return;
      checkpointer.stopped = true;
      worker.terminate();
      log.error("checkpoint thread failed ({reason}); automatic checkpoints are back on", {
        reason,
      });
      client.execute("PRAGMA wal_autocheckpoint = 1000").catch(() => {});
    };
    worker.onmessage = (event) => {
      if (event.data?.fatal) fallBack(event.data.error);
      else if (event.data?.error) {
        log.warn("checkpoint failed: {error}", { error: event.data.error });
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      fallBack(event.message);
    };
    worker.postMessage({ path, intervalMs: INTERVAL_MS });
    return checkpointer;
  }

  /** Stops the thread (closing the connection checkpoints what is left). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.worker.terminate();
  }
}
