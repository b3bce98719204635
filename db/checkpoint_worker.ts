/**
 * The checkpointer's thread (see checkpointer.ts): its own connection to the
 * database, running checkpoints on an interval. PASSIVE copies what it can
 * without waiting for or blocking anyone. But a busy writer always starts its
 * transaction on a WAL with a few new frames, so it never rewinds the WAL to its
 * start and the file grows; once the WAL is past RESTART_AT_FRAMES a RESTART
 * checkpoint (right after a PASSIVE one, so little is left to copy) holds off
 * writers for a moment and lets the next one start the WAL over.
 */
import Database from "libsql";

interface Start {
  path: string;
  intervalMs: number;
}

declare const self: Worker & { close(): void };

/** 1,000 pages: SQLite's own automatic checkpoint threshold. */
const RESTART_AT_FRAMES = 1_000;
/** How long a RESTART waits for the writer and readers (on this thread only). */
const RESTART_WAIT_MS = 200;

let db: InstanceType<typeof Database> | null = null;
let timer: ReturnType<typeof setInterval> | undefined;

self.onmessage = (event: MessageEvent<Start | "stop">) => {
  if (event.data === "stop") {
    clearInterval(timer);
    db?.close();
    self.postMessage({ stopped: true });
    self.close();
    return;
  }
  const { path, intervalMs } = event.data;
  try {
    db = new Database(path, { timeout: RESTART_WAIT_MS });
    const passive = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    const restart = db.prepare("PRAGMA wal_checkpoint(RESTART)");
    timer = setInterval(() => {
      try {
        const [{ log }] = passive.all([]) as { log: number }[];
        if (log >= RESTART_AT_FRAMES) restart.all([]);
      } catch (error) {
        self.postMessage({ error: String(error) });
      }
    }, intervalMs);
    self.postMessage({ started: true });
  } catch (error) {
    self.postMessage({ error: String(error), fatal: true });
  }
};
