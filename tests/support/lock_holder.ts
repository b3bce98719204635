/**
 * Another process holding a SQLite file's write lock (tests/support/lock_database.ts),
 * with promises for the moments it took and let go of the lock.
 */

export interface LockHolder {
  /** Resolves once the other process holds the lock. */
  locked: Promise<void>;
  /** Resolves once it let go (and pushes "released" onto the shared log first). */
  released: Promise<void>;
  /** Waits for the process to end; fails the caller if it did not end well. */
  done(): Promise<void>;
}

/** Holds the write lock of `file` for `ms` from a second process; `log` records the release. */
export function holdWriteLock(file: string, ms: number, log: string[] = []): LockHolder {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./lock_database.ts", import.meta.url).pathname, file, String(ms)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let onLocked!: () => void;
  let onReleased!: () => void;
  const locked = new Promise<void>((r) => onLocked = r);
  const released = new Promise<void>((r) => onReleased = r);
  (async () => {
    let out = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      if (out.includes("LOCKED")) onLocked();
      if (out.includes("RELEASED")) {
        log.push("released");
        onReleased();
      }
    }
  })();
  return {
    locked,
    released,
    async done() {
      const status = await child.status;
      if (status.code !== 0) throw new Error(`the lock holder exited with ${status.code}`);
    },
  };
}
