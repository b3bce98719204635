/**
 * The typed client (routes/client/) against a real instance that requires a
 * token: the seeds' flows through it — submit, batch, get, list, follow live,
 * cancel, retry, the shortcuts and the currency routes — with every exchange
 * also checked against the instance's document; and the same client bundled
 * for Node, run by Node.
 */
import assert from "node:assert/strict";
import {
  createFilaClient,
  type FilaClient,
  FilaError,
  type TaskFrame,
} from "../routes/client/mod.ts";
import { contractFetch, loadContract } from "./support/contract.ts";
import { startFakeAwesomeApi } from "./support/fake_awesomeapi.ts";
import { startTestFila, type TestFila } from "./support/harness.ts";

const TOKEN = "client-test-token";

/** A fetch for the client that sends each request through the contract checker. */
function checkedFetch(fila: TestFila) {
  const checked = contractFetch(fila.url, () => loadContract(fila.url));
  return async (request: Request) => {
    const body = request.body === null ? undefined : await request.text();
    return checked(request.url.slice(fila.url.length), {
      method: request.method,
      headers: request.headers,
      body,
      signal: request.signal,
    });
  };
}

/** The task once it has ended, read through the client. */
async function ended(client: FilaClient, id: string) {
  for (const frame of await collect(client.followTask(id))) {
    if (frame.event === "end") return frame.data;
  }
  throw new Error(`the stream of ${id} closed without an end frame`);
}

async function collect(frames: AsyncIterable<TaskFrame>): Promise<TaskFrame[]> {
  const all: TaskFrame[] = [];
  for await (const frame of frames) all.push(frame);
  return all;
}

Deno.test("client: the seeds' flows through the typed client, against an instance with API_TOKEN", async () => {
  const upstream = startFakeAwesomeApi();
  const fila = await startTestFila({ env: { API_TOKEN: TOKEN, QUOTES_API_URL: upstream.url } });
  try {
    const fetch = checkedFetch(fila);
    const anonymous = createFilaClient({ baseUrl: fila.url, fetch });
    const refused = await anonymous.listTasks();
    assert.equal(refused.response.status, 401);
    assert.equal(refused.error?.error.code, "unauthorized");

    const client = createFilaClient({ baseUrl: fila.url, token: TOKEN, fetch });
    // typed per task type: `deno check` fails here the day a wrong payload compiles
    // @ts-expect-error a sum's numbers are numbers
    const _wrong = () => client.submitTask({ type: "sum", payload: { numbers: ["1"] } });
    // submit, then follow it live to its end
    const submitted = await client.submitTask({
      type: "uppercase",
      payload: { text: "olá" },
      priority: "HIGH",
    });
    assert.equal(submitted.response.status, 202, JSON.stringify(submitted.error));
    const task = submitted.data!;
    assert.equal(task.priority, "high");
    const frames = await collect(client.followTask(task.id));
    const end = frames.at(-1)!;
    assert.equal(end.event, "end");
    assert.equal(end.event === "end" && end.data.status, "succeeded");
    assert.deepEqual(end.event === "end" && end.data.result, { text: "OLÁ" });
    assert.deepEqual(
      frames.filter((f) => f.event === "task").map((f) => f.data.status),
      ["queued", "running", "succeeded"],
    );
    await assert.rejects(() => collect(client.followTask("no-such-task")), (e: Error) => {
      assert.ok(e instanceof FilaError && e.status === 404, String(e));
      return true;
    });

    // batch, get, list with filters
    const batch = await client.submitTaskBatch({
      tasks: [1, 2, 3].map((n) => ({ type: "sum" as const, payload: { numbers: [n, n] } })),
    });
    assert.equal(batch.response.status, 202);
    for (const t of batch.data!.tasks) await ended(client, t.id);
    const read = await client.getTask(batch.data!.tasks[2].id);
    assert.deepEqual(read.data?.result, { sum: 6, count: 2 });
    const listed = await client.listTasks({ type: "sum", status: "succeeded", limit: 2 });
    assert.equal(listed.data?.count, 2);
    assert.equal(listed.data?.total, 3);
    const missing = await client.getTask("no-such-task");
    assert.equal(missing.error?.error.code, "not_found");

    // cancel a scheduled task, replay it, and cancel a finished one (409)
    const later = await client.submitTask(
      { type: "noop", delay_ms: 60_000 },
      { headers: { "Idempotency-Key": "client-later" } },
    );
    const again = await client.submitTask(
      { type: "noop", delay_ms: 60_000 },
      { headers: { "Idempotency-Key": "client-later" } },
    );
    assert.equal(again.response.status, 200);
    assert.equal(again.data?.id, later.data?.id);
    const cancelled = await client.cancelTask(later.data!.id);
    assert.equal(cancelled.data?.status, "cancelled");
    const retried = await client.retryTask(later.data!.id);
    assert.equal(retried.response.status, 202);
    assert.equal((await ended(client, later.data!.id)).status, "succeeded", "replayed now");
    assert.equal((await client.getTaskStatus(later.data!.id)).data?.progress, 100);
    const conflict = await client.cancelTask(task.id);
    assert.equal(conflict.response.status, 409);
    assert.equal(conflict.error?.error.code, "conflict");

    // the seed's shortcuts
    const csv = await client.processCsv({ filename: "vendas.csv", num_rows: 100 });
    assert.equal(csv.response.status, 202);
    assert.deepEqual((await ended(client, csv.data!.task_id)).status, "succeeded");
    const aggregate = await client.aggregateSales({ region: "sul", month: "2026-01" });
    assert.equal((await ended(client, aggregate.data!.task_id)).status, "succeeded");
    const report = await client.sendReport({ email: "ana@example.com" });
    assert.equal((await ended(client, report.data!.task_id)).status, "succeeded");
    assert.equal((await client.listOutbox({ limit: 1 })).data?.messages[0].to, "ana@example.com");
    const badQuery = await client.processCsv({ filename: "../etc/passwd" });
    assert.equal(badQuery.response.status, 400);
    assert.ok(badQuery.error?.error.details?.issues?.length);

    // currency, also through the /api/v1 mount
    const none = await client.getQuote();
    assert.equal(none.response.status, 404);
    const fetched = await client.fetchLatestQuote({ pair: "EUR-BRL" });
    assert.equal(fetched.data?.pair, "EUR-BRL");
    const v1 = createFilaClient({ baseUrl: `${fila.url}/api/v1/`, token: TOKEN, fetch });
    const stored = await v1.getQuote({ pair: "usd-brl" });
    assert.equal(stored.data?.pair, "USD-BRL");
    assert.equal((await v1.listQuoteHistory({ pair: "USD-BRL" })).data?.count, 1);
    assert.deepEqual((await v1.listQuotePairs()).data?.pairs, ["USD-BRL", "EUR-BRL", "BTC-BRL"]);
    assert.equal((await v1.getQueueStats()).data?.counts.by_status.succeeded, 8);
  } finally {
    await fila.stop();
    await upstream.close();
  }
});

const hasNode = await new Deno.Command("node", { args: ["--version"], stdout: "null" }).output()
  .then((out) => out.success, () => false);

Deno.test({
  name: "client: bundled for Node (deno bundle), it submits and follows a task under Node",
  ignore: !hasNode,
  async fn() {
    const fila = await startTestFila({ env: { API_TOKEN: TOKEN } });
    const dir = await Deno.makeTempDir({ prefix: "fila-client-node-" });
    try {
      const bundle = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--platform=browser",
          new URL("../routes/client/mod.ts", import.meta.url).pathname,
          "-o",
          `${dir}/fila_client.mjs`,
        ],
        stderr: "piped",
      }).output();
      assert.ok(bundle.success, new TextDecoder().decode(bundle.stderr));
      await Deno.writeTextFile(
        `${dir}/run.mjs`,
        `import { createFilaClient } from "./fila_client.mjs";
const fila = createFilaClient({ baseUrl: process.env.FILA_URL, token: process.env.FILA_TOKEN });
const { data: task } = await fila.submitTask({ type: "sum", payload: { numbers: [20, 22] } });
const frames = [];
for await (const frame of fila.followTask(task.id)) frames.push(frame);
console.log(JSON.stringify({ node: process.version, last: frames.at(-1) }));
`,
      );
      const run = await new Deno.Command("node", {
        args: [`${dir}/run.mjs`],
        env: { FILA_URL: fila.url, FILA_TOKEN: TOKEN },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      const out = JSON.parse(new TextDecoder().decode(run.stdout));
      assert.match(out.node, /^v\d+/);
      assert.equal(out.last.event, "end");
      assert.deepEqual(out.last.data.result, { sum: 42, count: 2 });
    } finally {
      await fila.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
