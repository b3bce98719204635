/**
 * What `deno task dev` installs on a fresh machine is what deno.json imports:
 * the service's packages and its typed client's, never the tests' or the dev
 * tools' (those are named in tests/support/deps.ts and locked in tests/deno.lock).
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

/** npm packages (name@version) in the module graph of `entry`, as `deno info` resolves them. */
async function graphPackages(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(out.code, 0, `deno info ${entry} failed`);
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return new Set(Object.keys(info.npmPackages ?? {}));
}

Deno.test("graph: deno.lock holds only packages of the service and its client, no test or dev tool", async () => {
  const lock = JSON.parse(await Deno.readTextFile(new URL("deno.lock", root)));
  const locked = Object.keys(lock.npm ?? {});
  const reachable = new Set([
    ...await graphPackages("main.ts"),
    ...await graphPackages("routes/client/mod.ts"),
  ]);
  const strays = locked.filter((p) => !reachable.has(p));
  assert.deepEqual(strays, [], "packages in deno.lock that the service never imports");
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  for (const tool of ["playwright-core", "fast-check", "smtp-server", "drizzle-kit", "ajv"]) {
    assert.ok(!(tool in config.imports), `${tool} in deno.json imports`);
    assert.ok(!locked.some((p) => p.startsWith(`${tool}@`)), `${tool} in deno.lock`);
  }
});
