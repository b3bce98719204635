/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside
 * the COMMIT that takes the WAL past 1,000 pages: it copies those pages into the
 * database file and fsyncs it, on Fila's one JavaScript thread, every hundred or
 * so tasks. That stall was the tail of every latency figure (running the same
 * checkpoints from a timer on the serving connection was no better: p99 4-6 ms).
 *
 * So the serving connection turns automatic checkpoints off, and a second
 * connection, opened with libsql's promise API, runs them: its statements run on
 * libsql's own threads and resolve a promise, so neither the copy nor the fsync
 * holds the event loop. (This replaced a Worker running the same loop: a second
 * V8 isolate cost ~14 MB of resident memory.) It is the same native library as
 * the serving connection, which matters: two copies of SQLite in one process
 * would not see each other's POSIX locks.
 *
 * PASSIVE copies what it can without waiting for or blocking anyone. But a busy
 * writer always starts its transaction on a WAL with a few new frames, so it
 * never rewinds the WAL to its start and the file grows; once the log is
 * RESTART_AT_FRAMES frames long, a RESTART checkpoint (right after a PASSIVE one,
 * so little is left to copy) holds off writers for a moment and lets the next one
 * start the WAL over, writing over the file's pages rather than growing it again
 * (emptying it each time, TRUNCATE, cost ~5 % of end-to-end throughput: the file
 * had to grow back; restarting whenever the file was long and written to, rather
 * than when its log was, cost ~4 %). A file past TRUNCATE_AT_FRAMES (the WAL grew
 * while a long reader held it) is emptied once it can be. While either runs, the
 * serving connection's calls wait for it in
 * JavaScript (LocalClient.exclusive): a write that met the RESTART inside SQLite
 * would sleep in SQLite's busy handler (1, 2, 5 ms...) on the event loop, and those
 * 8-16 ms stalls were the tail of `POST /tasks`. If the checkpoint connection
 * cannot be opened, automatic checkpoints stay on, so the WAL cannot grow
 * without bound.
 *
 * Checkpoints run with `exec`, which returns no rows: reading the pragma's row
 * (`all()`) made the driver create a native handle per call, and Deno never frees
 * part of each one, ~55 bytes five times a second even while idle (issue #20).
 * The log's length is read from the WAL file instead (wal_file.ts).
 */
import { getLogger } from "@logtape/logtape";
import AsyncDatabase from "libsql/promise";
import type { LocalClient } from "./local_client.ts";
import { walFrames } from "./wal_file.ts";

const log = getLogger(["fila", "db"]);
const INTERVAL_MS = 200;
/** 1,000 pages: SQLite's own automatic checkpoint threshold. */
const RESTART_AT_FRAMES = 1_000;
/** How long a RESTART or TRUNCATE waits for writers and readers (on libsql's thread, not ours). */
const RESTART_WAIT_MS = 200;
/** A WAL file this long grew while something held the WAL (a long reader): it is emptied. */
const TRUNCATE_AT_FRAMES = 4 * RESTART_AT_FRAMES;

export class Checkpointer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;
  private closed: Promise<void> | null = null;
  /** The last checkpoint's error, if it failed (null once one succeeds). */
  lastError: string | null = null;

  private constructor(
    private readonly client: LocalClient,
    private readonly connection: InstanceType<typeof AsyncDatabase>,
    private readonly walPath: string,
    private readonly pageSize: number,
  ) {}

  /** Starts checkpointing the database at `path` (in WAL mode) that `client` writes to. */
  static async start(path: string, client: LocalClient): Promise<Checkpointer | null> {
    let connection: InstanceType<typeof AsyncDatabase> | undefined;
    try {
      connection = new AsyncDatabase(path, { timeout: RESTART_WAIT_MS });
      await connection.exec("PRAGMA wal_checkpoint(PASSIVE)");
      const pageSize = Number(Object.values((await client.execute("PRAGMA page_size")).rows[0])[0]);
      await client.execute("PRAGMA wal_autocheckpoint = 0");
      const checkpointer = new Checkpointer(
        client,
        connection,
        `${path}-wal`,
        pageSize,
      );
      checkpointer.schedule();
      return checkpointer;
    } catch (error) {
      connection?.close();
      log.error("no checkpoint connection ({error}); SQLite's automatic checkpoints stay on", {
        error: String(error),
      });
      return null;
    }
  }

  /** Stops the loop and closes its connection once a checkpoint in flight ends. */
  stop(): Promise<void> {
    return this.closed ??= (async () => {
      this.stopped = true;
      clearTimeout(this.timer);
      await this.running;
      this.connection.close();
    })();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.checkpoint().finally(() => {
        this.running = null;
        this.schedule();
      });
    }, INTERVAL_MS);
  }

  private async checkpoint(): Promise<void> {
    try {
      await this.connection.exec("PRAGMA wal_checkpoint(PASSIVE)");
      const frames = walFrames(this.walPath, this.pageSize);
      if (frames.inFile >= TRUNCATE_AT_FRAMES && !this.stopped) {
        await this.client.exclusive(() => this.connection.exec("PRAGMA wal_checkpoint(TRUNCATE)"));
      } else if (frames.inUse >= RESTART_AT_FRAMES && !this.stopped) {
        await this.client.exclusive(() => this.connection.exec("PRAGMA wal_checkpoint(RESTART)"));
      }
      this.lastError = null;
    } catch (error) {
      // another instance on the same file checkpointing at this moment is not a fault
      if (isBusy(error)) return;
      const message = String(error);
      if (message !== this.lastError) log.warn("checkpoint failed: {error}", { error: message });
      this.lastError = message;
    }
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? "";
  return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED");
}
