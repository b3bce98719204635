/**
 * What `deno task dev` installs on a fresh machine is what deno.json imports:
 * the service's packages and its typed client's, never the tests' or the dev
 * tools' (those are named in tests/support/deps.ts and locked in tests/deno.lock).
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

interface GraphInfo {
  modules: { specifier: string }[];
  npmPackages?: Record<string, unknown>;
}

/** Each entry's graph, read once: both tests below look at main.ts's. */
const graphs = new Map<string, Promise<GraphInfo>>();

/** `deno info --json` of `entry`: its module graph, static and dynamic imports alike. */
function graphInfo(entry: string): Promise<GraphInfo> {
  let graph = graphs.get(entry);
  if (!graph) graphs.set(entry, graph = readGraph(entry));
  return graph;
}

async function readGraph(entry: string): Promise<GraphInfo> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(out.code, 0, `deno info ${entry} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** npm packages (name@version) in the module graph of `entry`, as `deno info` resolves them. */
async function graphPackages(entry: string): Promise<Set<string>> {
  return new Set(Object.keys((await graphInfo(entry)).npmPackages ?? {}));
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

/*
 * V8 keeps every loaded module's source (the emitted JavaScript with its inline
 * source map) for as long as the process lives, and one character past U+00FF
 * anywhere in it (an arrow or a dash in a comment) stores the whole text at two
 * bytes a character: about 0.7 MiB of an idle instance's heap. Comments say it in
 * ASCII; a string that needs such a character writes it as an escape (\u2026).
 */
Deno.test("graph: every module of the service is Latin-1 text, so V8 keeps its source at a byte a character", async () => {
  const own = (await graphInfo("main.ts")).modules
    .map((m) => m.specifier)
    .filter((s) => s.startsWith(root.href) && !s.includes("/node_modules/") && /\.[jt]s$/.test(s));
  assert.ok(own.length > 50, `only ${own.length} of Fila's modules in main.ts's graph`);
  const wide: string[] = [];
  for (const specifier of own) {
    const lines = (await Deno.readTextFile(new URL(specifier))).split("\n");
    lines.forEach((line, i) => {
      if (/[\u0100-\u{10ffff}]/u.test(line)) {
        wide.push(`${specifier.slice(root.href.length)}:${i + 1}`);
      }
    });
  }
  assert.deepEqual(wide, [], "lines with a character past U+00FF in modules the service loads");
});
