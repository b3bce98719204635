/**
 * Throw-away PostgreSQL clusters for tests and benchmarks, run from Debian's `postgresql`
 * package: `initdb` in a fresh temp dir, `pg_ctl start` on 127.0.0.1 and a free port (its unix
 * socket in the same dir), every other setting left at its default (fsync on). A cluster is
 * cheap enough (~1 s) for a test file to start one in `Deno.test.beforeAll` and give each test
 * its own database (`createDatabase`).
 *
 * Teardown happens on every exit path: `stop()`; and, should the process end without it
 * (uncaught error, Deno.exit, SIGINT, SIGKILL), a watchdog shell that holds the read end of a
 * pipe from this process sees it close and stops the server and removes the dir.
 *
 * CLI, for a child process or a benchmark:
 *   deno run -A tests/support/postgres.ts [--database NAME]
 * prints the cluster's `postgres://` URL on one line and keeps the cluster until SIGINT/SIGTERM.
 */

/** How `down()` / `restart()` take the server away. */
export type DownMode =
  /** `pg_ctl stop -m fast`: sessions are terminated, a clean shutdown checkpoint. */
  | "fast"
  /** `pg_ctl stop -m immediate`: no checkpoint; the next start runs crash recovery. */
  | "immediate"
  /** SIGKILL to the postmaster and all its processes at once, as a power cut would. */
  | "kill";

export interface PostgresCluster {
  /** `postgres://postgres@127.0.0.1:PORT/DATABASE` of the database made at start. */
  url: string;
  port: number;
  /** The temp dir: `data/` (the cluster), `server.log`, and the unix socket. */
  dir: string;
  /** The server's log (appended across restarts): read it when a test fails oddly. */
  logFile: string;
  /** pid of the running postmaster, or null while it is down. */
  readonly pid: number | null;
  /** Creates a database in this cluster and returns its URL (a fresh name when none given). */
  createDatabase(name?: string): Promise<string>;
  /** Takes the server down (default `fast`), keeping the cluster and its port for `up()`. */
  down(mode?: DownMode): Promise<void>;
  /** Starts the server again on the same port, running crash recovery when it was killed. */
  up(): Promise<void>;
  /** `down(mode)` then `up()`: what a reconnect test does to PostgreSQL under load. */
  restart(mode?: DownMode): Promise<void>;
  /** Stops the server (fast, then immediate, then SIGKILL) and removes the dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Name of the database created at start (default `fila`). */
  database?: string;
}

const SUPERUSER = "postgres";
const START_TIMEOUT_S = 60;
const STOP_TIMEOUT_S = 20;

/**
 * The bin dir of the newest PostgreSQL installed the Debian way
 * (`/usr/lib/postgresql/<major>/bin`), or `PG_BIN_DIR` when set.
 */
export function postgresBinDir(): string {
  const fromEnv = Deno.env.get("PG_BIN_DIR");
  if (fromEnv) return fromEnv;
  const root = "/usr/lib/postgresql";
  let majors: number[] = [];
  try {
    majors = [...Deno.readDirSync(root)]
      .map((entry) => Number(entry.name))
      .filter((major) => Number.isFinite(major) && isFile(`${root}/${major}/bin/initdb`));
  } catch {
    // no such dir: reported below
  }
  if (majors.length === 0) {
    throw new Error(`no PostgreSQL under ${root}/*/bin: apt-get install postgresql`);
  }
  return `${root}/${Math.max(...majors)}/bin`;
}

/** Starts a fresh cluster with one database; see the module doc. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresCluster> {
  const database = options.database ?? "fila";
  assertDatabaseName(database);
  const bin = postgresBinDir();
  const runAs = Deno.uid() === 0 ? await systemUser(SUPERUSER) : null;
  const dir = await Deno.makeTempDir({ prefix: "fila-pg-" });
  if (runAs) await Deno.chown(dir, runAs.uid, runAs.gid);
  const dataDir = `${dir}/data`;
  const logFile = `${dir}/server.log`;
  const watchdog = startWatchdog(bin, dataDir, dir, runAs !== null);

  const server = (program: string, args: string[]) =>
    runProgram(`${bin}/${program}`, args, { cwd: dir, asUser: runAs ? SUPERUSER : null });

  let port = 0;
  let pid: number | null = null;
  let stopping: Promise<void> | null = null;
  let databaseCount = 0;

  const pgCtl = (args: string[]) => server("pg_ctl", ["-D", dataDir, ...args]);

  async function startServer(): Promise<void> {
    const started = await pgCtl([
      "start",
      "-w",
      "-t",
      String(START_TIMEOUT_S),
      "-l",
      logFile,
      "-o",
      `-p ${port}`,
    ]);
    if (!started.ok) {
      const log = await Deno.readTextFile(logFile).catch(() => "");
      throw new ServerStartError(`pg_ctl start failed: ${started.output}\n${tail(log)}`, log);
    }
    pid = await readPostmasterPid(dataDir);
  }

  async function down(mode: DownMode = "fast"): Promise<void> {
    const running = pid ?? await readPostmasterPid(dataDir).catch(() => null);
    if (running === null) return;
    if (mode === "kill") {
      killTree(running);
    } else {
      const stopped = await pgCtl(["stop", "-m", mode, "-w", "-t", String(STOP_TIMEOUT_S)]);
      if (!stopped.ok && mode === "fast") {
        await pgCtl(["stop", "-m", "immediate", "-w", "-t", String(STOP_TIMEOUT_S)]);
      }
      if (isAlive(running)) killTree(running);
    }
    await waitUntil(() => !isAlive(running), STOP_TIMEOUT_S * 1000, "postmaster to exit");
    // A killed postmaster leaves its lock files, and may linger as a zombie until adopted and
    // reaped; PostgreSQL would take that zombie for a live server and refuse to start.
    if (mode === "kill") {
      for (const lockFile of [`${dataDir}/postmaster.pid`, `${dir}/.s.PGSQL.${port}.lock`]) {
        await Deno.remove(lockFile).catch(() => {});
      }
    }
    pid = null;
  }

  async function up(): Promise<void> {
    if (pid !== null) return;
    // After a kill, the old backends may hold shared memory for a moment: retry until they go.
    const deadline = Date.now() + START_TIMEOUT_S * 1000;
    for (;;) {
      try {
        return await startServer();
      } catch (error) {
        const inUse = error instanceof ServerStartError && /still in use/.test(error.log);
        if (!inUse || Date.now() > deadline) throw error;
        await delay(200);
      }
    }
  }

  async function teardown(): Promise<void> {
    try {
      await down("fast");
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await watchdog.disarm();
    }
  }

  try {
    const initdb = await server("initdb", [
      "-D",
      dataDir,
      "-U",
      SUPERUSER,
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
      "-N",
    ]);
    if (!initdb.ok) throw new Error(`initdb failed: ${initdb.output}`);
    await Deno.writeTextFile(
      `${dataDir}/postgresql.conf`,
      `\n# fila test cluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\n`,
      { append: true },
    );
    // A free port can be taken between the probe and the bind: try a few.
    for (let attempt = 1;; attempt++) {
      port = freePort();
      try {
        await startServer();
        break;
      } catch (error) {
        const taken = error instanceof ServerStartError && /already in use/.test(error.log);
        if (!taken || attempt >= 5) throw error;
      }
    }
  } catch (error) {
    await teardown();
    throw error;
  }

  const cluster: PostgresCluster = {
    url: "",
    port,
    dir,
    logFile,
    get pid() {
      return pid;
    },
    async createDatabase(name?: string) {
      const dbName = name ?? `test_${++databaseCount}_${crypto.randomUUID().slice(0, 8)}`;
      assertDatabaseName(dbName);
      const created = await server("createdb", [
        "-h",
        dir,
        "-p",
        String(port),
        "-U",
        SUPERUSER,
        dbName,
      ]);
      if (!created.ok) throw new Error(`createdb ${dbName} failed: ${created.output}`);
      return `postgres://${SUPERUSER}@127.0.0.1:${port}/${dbName}`;
    },
    down,
    up,
    async restart(mode: DownMode = "fast") {
      await down(mode);
      await up();
    },
    stop() {
      stopping ??= teardown();
      return stopping;
    },
  };
  try {
    cluster.url = await cluster.createDatabase(database);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

class ServerStartError extends Error {
  constructor(message: string, readonly log: string) {
    super(message);
  }
}

interface Watchdog {
  /** Tells the watchdog the cluster is gone, and waits for it to exit. */
  disarm(): Promise<void>;
}

/**
 * A shell that waits on a pipe from this process. `disarm` writes a word and closes it; if the
 * pipe closes without that word this process has died, and the shell stops the server and removes
 * the dir. It ignores INT/TERM/HUP so that a Ctrl-C on the whole process group reaches the cleanup,
 * and it is unref'd so that a forgotten `stop()` does not keep this process alive.
 */
function startWatchdog(bin: string, dataDir: string, dir: string, asPostgres: boolean): Watchdog {
  const script = [
    "trap '' INT TERM HUP",
    'read -r word; [ "$word" = disarm ] && exit 0',
    `${asPostgres ? "runuser -u postgres -- " : ""}"$1/pg_ctl" stop -D "$2" -m immediate -w -t 10` +
    ' >/dev/null 2>&1 || { pid=$(head -n1 "$2/postmaster.pid" 2>/dev/null); ' +
    '[ -n "$pid" ] && kill -9 "$pid"; }',
    'rm -rf "$3"',
  ].join("\n");
  const child = new Deno.Command("sh", {
    args: ["-c", script, "fila-pg-watchdog", bin, dataDir, dir],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  const writer = child.stdin.getWriter();
  let disarmed: Promise<void> | null = null;
  return {
    disarm() {
      disarmed ??= (async () => {
        child.ref();
        await writer.write(new TextEncoder().encode("disarm\n")).catch(() => {});
        await writer.close().catch(() => {});
        await child.status;
      })();
      return disarmed;
    },
  };
}

/** Runs a program (as `asUser` via runuser when given), capturing its output; never throws on exit code. */
async function runProgram(
  program: string,
  args: string[],
  options: { cwd: string; asUser: string | null },
): Promise<{ ok: boolean; output: string }> {
  const [command, commandArgs] = options.asUser
    ? ["runuser", ["-u", options.asUser, "--", program, ...args]]
    : [program, args];
  const result = await new Deno.Command(command, {
    args: commandArgs,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const output = (decoder.decode(result.stdout) + decoder.decode(result.stderr)).trim();
  return { ok: result.success, output };
}

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const passwd = await Deno.readTextFile("/etc/passwd");
  const line = passwd.split("\n").find((entry) => entry.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${name} user: apt-get install postgresql creates it`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

async function readPostmasterPid(dataDir: string): Promise<number> {
  const text = await Deno.readTextFile(`${dataDir}/postmaster.pid`);
  return Number(text.split("\n")[0]);
}

/** SIGKILLs the postmaster and its children in one go (children first found, then all killed). */
function killTree(postmaster: number): void {
  const pids = [postmaster, ...childrenOf(postmaster)];
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = readProcStat(Number(entry.name));
    if (stat?.ppid === parent) children.push(Number(entry.name));
  }
  return children;
}

function readProcStat(pid: number): { state: string; ppid: number } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // the command name (field 2) may hold spaces and parentheses: fields after its last ")"
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/** Whether `pid` runs: a zombie (exited, not yet reaped by whoever adopted it) counts as gone. */
export function isAlive(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== null && stat.state !== "Z" && stat.state !== "X";
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function assertDatabaseName(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new Error(`database name ${JSON.stringify(name)}: use [a-z_][a-z0-9_]*`);
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

if (import.meta.main) {
  const index = Deno.args.indexOf("--database");
  const cluster = await startPostgres({
    database: index >= 0 ? Deno.args[index + 1] : undefined,
  });
  console.log(cluster.url);
  // keeps the process (and so the cluster) alive until a signal asks it to stop
  const keepAlive = setInterval(() => {}, 1 << 30);
  const shutDown = () => {
    clearInterval(keepAlive);
    cluster.stop().then(() => Deno.exit(0), () => Deno.exit(1));
  };
  Deno.addSignalListener("SIGINT", shutDown);
  Deno.addSignalListener("SIGTERM", shutDown);
}
