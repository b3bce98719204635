/**
 * The throw-away PostgreSQL harness (support/postgres.ts) against a real server: it starts,
 * serves one database per test, restarts on its port, and leaves no process and no dir behind,
 * neither after stop() nor after its owner process is killed.
 */
import assert from "node:assert/strict";
import { postgres } from "./support/deps.ts";
import { isAlive, type PostgresCluster, startPostgres } from "./support/postgres.ts";

let shared: PostgresCluster;
Deno.test.beforeAll(async () => {
  shared = await startPostgres();
});
Deno.test.afterAll(async () => {
  await shared?.stop();
});

/** Opens a postgres.js client for the test body and always closes it. */
async function withClient<T>(url: string, body: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await body(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function refusesConnections(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return false;
  } catch (error) {
    return error instanceof Deno.errors.ConnectionRefused;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function eventually(predicate: () => boolean | Promise<boolean>, what: string) {
  const deadline = Date.now() + 30_000;
  while (!await predicate()) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("a fresh cluster serves its database on 127.0.0.1 with default durability; stop leaves no process and no dir", async () => {
  const cluster = await startPostgres({ database: "harness_check" });
  const pid = cluster.pid!;
  try {
    assert.match(cluster.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/harness_check$/);
    assert.ok(isAlive(pid));
    await withClient(cluster.url, async (sql) => {
      const [row] = await sql`SELECT current_database() AS db, current_setting('fsync') AS fsync,
        current_setting('listen_addresses') AS listen, current_setting('port') AS port,
        current_setting('server_encoding') AS encoding`;
      assert.deepEqual(row, {
        db: "harness_check",
        fsync: "on",
        listen: "127.0.0.1",
        port: String(cluster.port),
        encoding: "UTF8",
      });
    });
  } finally {
    await cluster.stop();
  }
  assert.equal(isAlive(pid), false);
  assert.equal(exists(cluster.dir), false);
  assert.ok(await refusesConnections(cluster.port));
  await cluster.stop(); // idempotent
});

Deno.test("createDatabase gives each test its own database in one cluster", async () => {
  const first = await shared.createDatabase();
  const second = await shared.createDatabase("second_db");
  assert.notEqual(first, second);
  assert.match(second, /\/second_db$/);
  await withClient(first, (sql) => sql`CREATE TABLE only_in_first (id int)`);
  const seen = await withClient(
    second,
    (sql) => sql`SELECT to_regclass('only_in_first') AS found`,
  );
  assert.equal(seen[0].found, null);
  await assert.rejects(shared.createDatabase("second_db"), /already exists/);
  await assert.rejects(shared.createDatabase("Bad-Name"), /database name/);
});

Deno.test("restart keeps the port and the committed rows, whether fast, immediate or killed", async () => {
  const url = await shared.createDatabase();
  await withClient(url, async (sql) => {
    await sql`CREATE TABLE kept (n int)`;
    for (const mode of ["fast", "immediate", "kill"] as const) {
      const before = shared.pid!;
      await sql`INSERT INTO kept VALUES (1)`;
      await shared.restart(mode);
      assert.equal(isAlive(before), false, `${mode}: old postmaster gone`);
      assert.notEqual(shared.pid, before);
      // the client's connection died with the server; postgres.js opens a new one on the same URL
      const [{ count }] = await sql`SELECT count(*)::int AS count FROM kept`;
      assert.equal(count, ["fast", "immediate", "kill"].indexOf(mode) + 1, mode);
    }
  });
});

Deno.test("down keeps the server away until up", async () => {
  const url = await shared.createDatabase();
  await shared.down();
  try {
    assert.equal(shared.pid, null);
    assert.ok(await refusesConnections(shared.port));
  } finally {
    await shared.up();
  }
  const [row] = await withClient(url, (sql) => sql`SELECT 1 AS one`);
  assert.equal(row.one, 1);
});

Deno.test("a cluster whose owner process is killed is stopped and removed by its watchdog", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./support/postgres.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    output += value;
  }
  const url = output.trim();
  const port = Number(new URL(url).port);
  assert.match(url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/fila$/);
  const [row] = await withClient(url, (sql) => sql`SELECT 1 AS one`);
  assert.equal(row.one, 1);
  const postmaster = findPostmaster(port);
  assert.ok(postmaster, "a postmaster runs on the printed port");

  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();

  await eventually(() => !isAlive(postmaster.pid), "postmaster stopped");
  await eventually(() => !exists(postmaster.dataDir), "cluster dir removed");
  assert.ok(await refusesConnections(port));
});

/** The postmaster serving `port`, found in /proc (not from what the harness reports). */
function findPostmaster(port: number): { pid: number; dataDir: string } | null {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let args: string[];
    try {
      args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
    } catch {
      continue;
    }
    if (!args[0]?.endsWith("/postgres")) continue;
    const portAt = args.indexOf("-p");
    const dataAt = args.indexOf("-D");
    if (portAt >= 0 && dataAt >= 0 && args[portAt + 1] === String(port)) {
      return { pid: Number(entry.name), dataDir: args[dataAt + 1] };
    }
  }
  return null;
}
