/**
 * Builds a report from the database -- sales by region, the latest quotes, or the
 * task counts -- as a text summary plus a CSV attachment, and mails it.
 */
import { z } from "zod";
import type { TaskServices } from "../services.ts";
import { defineTask } from "./define_task.ts";

export const REPORT_TYPES = ["sales", "vendas", "quotes", "tasks"] as const;

interface Report {
  title: string;
  lines: string[];
  header: string[];
  rows: (string | number | null)[][];
}

function csvCell(value: string | number | null): string {
  const text = value === null ? "" : String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** RFC 4180 text of a header and rows. */
export function toCsv(header: string[], rows: (string | number | null)[][]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

async function build(kind: "sales" | "quotes" | "tasks", services: TaskServices): Promise<Report> {
  if (kind === "sales") {
    const regions = await services.sales.byRegion();
    const orders = regions.reduce((n, r) => n + r.orders, 0);
    const revenue = Math.round(regions.reduce((n, r) => n + r.revenue, 0) * 100) / 100;
    return {
      title: "Sales by region",
      lines: [
        `${orders} orders, revenue ${revenue.toFixed(2)}`,
        ...regions.map((r) => `${r.region}: ${r.orders} orders, ${r.revenue.toFixed(2)}`),
      ],
      header: ["region", "orders", "revenue"],
      rows: regions.map((r) => [r.region, r.orders, r.revenue]),
    };
  }
  if (kind === "quotes") {
    const latest = (await Promise.all(services.quotes.pairs.map((p) => services.quotes.latest(p))))
      .filter((q) => q !== undefined);
    return {
      title: "Latest quotes",
      lines: latest.length === 0
        ? ["no quote stored yet"]
        : latest.map((q) =>
          `${q.pair}: bid ${q.bid}, ask ${q.ask} at ${new Date(q.timestamp).toISOString()}`
        ),
      header: ["pair", "bid", "ask", "high", "low", "pct_change", "timestamp"],
      rows: latest.map((
        q,
      ) => [q.pair, q.bid, q.ask, q.high, q.low, q.pctChange, new Date(q.timestamp).toISOString()]),
    };
  }
  const counts = await services.taskCounts();
  const total = counts.reduce((n, c) => n + c.n, 0);
  return {
    title: "Tasks",
    lines: [`${total} tasks`, ...counts.map((c) => `${c.type} ${c.status}: ${c.n}`)],
    header: ["type", "status", "count"],
    rows: counts.map((c) => [c.type, c.status, c.n]),
  };
}

export const sendReport = defineTask({
  type: "send_report",
  description:
    "Builds a report (sales \u2014 alias vendas \u2014, quotes or tasks) with a CSV attachment and mails it.",
  input: z.object({
    email: z.email(),
    report_type: z.enum(REPORT_TYPES).default("sales"),
  }).strict(),
  example: { email: "ana@example.com", report_type: "sales" },
  async run({ input, taskId, services, progress }) {
    const kind = input.report_type === "vendas" ? "sales" : input.report_type;
    const report = await build(kind, services);
    await progress(50, "report built");
    const day = new Date().toISOString().slice(0, 10);
    const sent = await services.mailer.send({
      to: [input.email],
      subject: `Fila report: ${report.title} (${day})`,
      text: `${report.title}\n\n${report.lines.join("\n")}\n\nThe full table is attached as CSV.\n`,
      attachments: [{
        filename: `${kind}-${day}.csv`,
        contentType: "text/csv",
        content: toCsv(report.header, report.rows),
      }],
      taskId,
    });
    return { ...sent, report_type: kind, rows: report.rows.length };
  },
});
