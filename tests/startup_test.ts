/**
 * A bad setting stops `main.ts` with one line that names the variable — no stack
 * trace — whatever the setting is: a port in use, a host that is no address, a
 * cron that is no cron, a KV or database that is not one, a file outside what
 * `deno task start` may write.
 */
import assert from "node:assert/strict";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const START_FLAGS = [
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-ffi",
  "--allow-read",
  "--allow-write=./data",
];

/** Runs main.ts to its end; resolves with its exit code and stderr. */
async function runMain(env: Record<string, string>, flags = ["-A"], cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, MAIN],
    env: { CRON_ENABLED: "false", LOG_LEVEL: "fatal", NO_COLOR: "1", PORT: "0", ...env },
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

function assertOneLine(result: { code: number; stderr: string }, variable: string) {
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.split("\n");
  assert.equal(
    lines.length,
    1 + (lines[0].includes("invalid configuration") ? 1 : 0),
    result.stderr,
  );
  assert.match(result.stderr, new RegExp(`^fila: (invalid configuration:\\n  )?${variable}: `));
  assert.doesNotMatch(result.stderr, /\n\s+at /, "a stack trace");
}

Deno.test("startup: each bad setting stops Fila with one line naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fila-startup-" });
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const files = { DATABASE_URL: `file:${dir}/fila.db`, KV_PATH: `${dir}/kv.sqlite` };
    const port = String((busy.addr as Deno.NetAddr).port);
    assertOneLine(await runMain({ ...files, PORT: port }), "PORT");
    assertOneLine(await runMain({ ...files, HOST: "999.1.1.1" }), "HOST");
    assertOneLine(await runMain({ ...files, QUOTES_CRON: "garbage" }), "QUOTES_CRON");
    await Deno.writeTextFile(`${dir}/not-a-db.txt`, "hello, I am text\n".repeat(100));
    assertOneLine(await runMain({ ...files, KV_PATH: `${dir}/not-a-db.txt` }), "KV_PATH");
    assertOneLine(
      await runMain({ ...files, DATABASE_URL: `file:${dir}/not-a-db.txt` }),
      "DATABASE_URL",
    );
    // `deno task start` may write under ./data only; a file elsewhere is refused with the flag to use
    await Deno.mkdir(`${dir}/work/data`, { recursive: true });
    const outside = await runMain(
      { DATABASE_URL: `file:${dir}/elsewhere/fila.db`, KV_PATH: "./data/kv.sqlite" },
      START_FLAGS,
      `${dir}/work`,
    );
    assertOneLine(outside, "DATABASE_URL");
    assert.match(outside.stderr, /--allow-write/);
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});
