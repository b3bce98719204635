/**
 * Parses a real CSV as a stream -- inline text, an http(s) URL, or a generated
 * sales file -- reporting progress, honouring cancel, and returning per-column
 * statistics. Rows of a sales file (its header is the sales columns) are stored
 * in `sales` under the file's name, replacing an earlier load.
 */
import { Readable } from "node:stream";
import { CsvError, parse } from "csv-parse";
import { z } from "zod";
import type { OutboundInit } from "../clients/outbound_fetch.ts";
import { UnrecoverableError } from "../engine/errors.ts";
import { ColumnStats } from "./csv/column_stats.ts";
import { generateSalesCsv, SALES_COLUMNS } from "./csv/sales_generator.ts";
import { defineTask } from "./define_task.ts";
import { filenameSchema } from "./patterns.ts";
import type { Sale } from "../stores.ts";

export const MAX_GENERATED_ROWS = 5_000_000;
const MAX_URL_BYTES = 100 * 1024 * 1024;
const INSERT_BATCH = 500;
/** Progress is stored every this many percent. */
const PROGRESS_STEP = 5;
const YIELD_EVERY_ROWS = 1_000;

export const processCsvInput = z.object({
  csv: z.string().min(1).max(900_000).optional(),
  url: z.url({ protocol: /^https?$/ }).optional(),
  filename: filenameSchema.optional(),
  num_rows: z.number().int().min(1).max(MAX_GENERATED_ROWS).optional(),
  delimiter: z.string().length(1).default(","),
}).strict().refine((i) => [i.csv, i.url, i.filename].filter((s) => s !== undefined).length === 1, {
  message: "give exactly one source: csv (inline text), url, or filename (+ num_rows)",
}).refine((i) => i.filename === undefined || i.num_rows !== undefined, {
  message: "a generated file needs num_rows",
  path: ["num_rows"],
});

interface Source {
  chunks: AsyncIterable<string> | Iterable<string>;
  /** What progress is measured in: rows expected, or bytes; 0 when unknown. */
  total: number;
  unit: "rows" | "bytes";
  dataset: string;
}

async function openSource(
  input: z.output<typeof processCsvInput>,
  taskId: string,
  signal: AbortSignal,
  fetchUrl: (url: string, init: OutboundInit) => Promise<Response>,
) {
  if (input.filename !== undefined) {
    return {
      chunks: generateSalesCsv(input.filename, input.num_rows!),
      total: input.num_rows!,
      unit: "rows",
      dataset: input.filename,
    } satisfies Source;
  }
  if (input.csv !== undefined) {
    return {
      chunks: [input.csv],
      total: input.csv.length,
      unit: "bytes",
      dataset: `inline:${taskId}`,
    } satisfies Source;
  }
  // a guarded fetch: the URL comes from whoever submitted the task
  const res = await fetchUrl(input.url!, { signal });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    const error = `GET ${input.url} answered ${res.status}`;
    if (res.status >= 400 && res.status < 500) throw new UnrecoverableError(error);
    throw new Error(error);
  }
  const length = Number(res.headers.get("content-length") ?? 0);
  if (length > MAX_URL_BYTES) {
    await res.body.cancel();
    throw new UnrecoverableError(`${input.url} is ${length} bytes; the limit is ${MAX_URL_BYTES}`);
  }
  async function* capped(body: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    let bytes = 0;
    for await (const chunk of body) {
      bytes += chunk.byteLength;
      if (bytes > MAX_URL_BYTES) {
        throw new UnrecoverableError(`${input.url} is over ${MAX_URL_BYTES} bytes`);
      }
      yield decoder.decode(chunk, { stream: true });
    }
  }
  return {
    chunks: capped(res.body),
    total: length,
    unit: "bytes",
    dataset: input.url!,
  } satisfies Source;
}

export const processCsv = defineTask({
  type: "process_csv",
  description:
    "Parses a CSV (inline `csv`, a `url`, or a generated sales file `filename` + `num_rows`) " +
    "and returns per-column statistics; sales files are stored for `aggregate`. A `url` must " +
    "reach a public address unless OUTBOUND_ALLOWED_HOSTS names its host.",
  input: processCsvInput,
  example: { filename: "sales-2026.csv", num_rows: 10000 },
  defaults: { timeoutMs: 3_600_000 },
  async run({ input, taskId, signal, progress, services }) {
    const source = await openSource(input, taskId, signal, services.fetch);
    const parser = parse({ delimiter: input.delimiter, skip_empty_lines: true, info: true });
    const feed = Readable.from(source.chunks);
    feed.on("error", (error) => parser.destroy(error));
    feed.pipe(parser);
    const repo = services.sales;

    let stats: ColumnStats | null = null;
    let isSales = false;
    let rows = 0;
    let stored = 0;
    let batch: Sale[] = [];
    let reportedStep = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      signal.throwIfAborted(); // nothing is written once the task is cancelled
      await repo.insert(batch);
      stored += batch.length;
      batch = [];
    };
    let sinceYield = 0;
    try {
      for await (
        const { record, info } of parser as AsyncIterable<
          { record: string[]; info: { bytes: number } }
        >
      ) {
        if (stats === null) {
          stats = new ColumnStats(record.map((name) => name.trim()));
          isSales = stats.names.join(",") === SALES_COLUMNS.join(",");
          if (isSales) await repo.clearDataset(source.dataset);
          continue;
        }
        rows++;
        stats.add(record);
        // parsing and the embedded database are synchronous underneath: let timers,
        // HTTP and the cancel poll run now and then
        if (++sinceYield === YIELD_EVERY_ROWS) {
          sinceYield = 0;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        if (isSales) {
          batch.push({
            dataset: source.dataset,
            date: record[0],
            region: record[1],
            product: record[2],
            quantity: Number(record[3]),
            unitPrice: Number(record[4]),
            amount: Number(record[5]),
          });
          if (batch.length >= INSERT_BATCH) await flush();
        }
        if (source.total > 0 && rows % 200 === 0) {
          signal.throwIfAborted();
          const done = source.unit === "rows" ? rows : info.bytes;
          const step = Math.floor((100 * done) / source.total / PROGRESS_STEP);
          if (step > reportedStep && step < 100 / PROGRESS_STEP) {
            reportedStep = step;
            await progress(step * PROGRESS_STEP, `${rows} rows`);
          }
        }
      }
      await flush();
    } catch (error) {
      if (error instanceof CsvError) {
        const line = (error as CsvError & { lines?: number }).lines;
        throw new UnrecoverableError(`invalid CSV at line ${line ?? "?"}: ${error.message}`);
      }
      throw error;
    } finally {
      feed.destroy();
      parser.destroy();
    }
    if (stats === null) throw new UnrecoverableError("the CSV is empty (no header line)");
    return {
      rows,
      columns: stats.names,
      stats: stats.summary(),
      ...(isSales ? { dataset: source.dataset, stored_rows: stored } : {}),
    };
  },
});
