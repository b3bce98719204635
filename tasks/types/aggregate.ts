/**
 * Statistics over stored data: sales of a region in a month (orders, revenue,
 * mean ticket, top products, by day), or a pair's quotes in a month (daily
 * open/high/low/close/mean). Nothing stored for the question → an empty answer.
 */
import { z } from "zod";
import { QuotesRepository } from "../../db/quotes_repository.ts";
import { SalesRepository } from "../../db/sales_repository.ts";
import { defineTask } from "./define_task.ts";

export const monthSchema = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, {
  message: "month must be YYYY-MM",
});

export const aggregateInput = z.union([
  z.object({
    region: z.string().min(1).max(50).transform((r) => r.toLowerCase()),
    month: monthSchema,
  }).strict(),
  z.object({
    pair: z.string().regex(/^[A-Za-z0-9]{2,10}-[A-Za-z0-9]{2,10}$/).transform((p) =>
      p.toUpperCase()
    ),
    month: monthSchema,
  }).strict(),
]);

const round2 = (n: number) => Math.round(n * 100) / 100;

export const aggregate = defineTask({
  type: "aggregate",
  description:
    "Sales of a `region` in a `month` (YYYY-MM), or daily OHLC of a quote `pair` in a `month`.",
  input: aggregateInput,
  example: { region: "south", month: "2026-03" },
  async run({ input, services }) {
    if ("region" in input) {
      const { byDay, byProduct } = await new SalesRepository(services.db).regionMonth(
        input.region,
        input.month,
      );
      const orders = byDay.reduce((n, d) => n + d.orders, 0);
      const revenue = round2(byDay.reduce((n, d) => n + d.revenue, 0));
      return {
        kind: "sales",
        region: input.region,
        month: input.month,
        orders,
        revenue,
        mean_ticket: orders === 0 ? 0 : round2(revenue / orders),
        top_products: byProduct,
        by_day: byDay,
      };
    }
    const readings = await new QuotesRepository(services.db).month(input.pair, input.month);
    const days = new Map<string, number[]>();
    for (const r of readings) {
      const day = new Date(r.timestamp).toISOString().slice(0, 10);
      let bids = days.get(day);
      if (!bids) days.set(day, bids = []);
      bids.push(r.bid);
    }
    return {
      kind: "quotes",
      pair: input.pair,
      month: input.month,
      readings: readings.length,
      by_day: [...days.entries()].map(([date, bids]) => ({
        date,
        open: bids[0],
        high: Math.max(...bids),
        low: Math.min(...bids),
        close: bids[bids.length - 1],
        mean: bids.reduce((a, b) => a + b, 0) / bids.length,
        readings: bids.length,
      })),
    };
  },
});
