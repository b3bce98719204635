/**
 * Statistics over stored data: sales of a region in a month (orders, revenue,
 * mean ticket, top products, by day), or a pair's quotes in a month (daily
 * open/high/low/close/mean). When nothing matches, the answer says what exists.
 */
import { z } from "zod";
import { canonicalRegion } from "./csv/sales_generator.ts";
import { defineTask } from "./define_task.ts";
import { monthSchema, pairSchema } from "./patterns.ts";

export const aggregateInput = z.union([
  z.object({
    region: z.string().min(1).max(50).transform(canonicalRegion),
    month: monthSchema,
  }).strict(),
  z.object({ pair: pairSchema, month: monthSchema }).strict(),
]);

const round2 = (n: number) => Math.round(n * 100) / 100;

export const aggregate = defineTask({
  type: "aggregate",
  description:
    "Sales of a `region` in a `month` (YYYY-MM), or daily OHLC of a quote `pair` in a `month`.",
  input: aggregateInput,
  example: { region: "sudeste", month: "2025-01" },
  async run({ input, services }) {
    if ("region" in input) {
      const { byDay, byProduct } = await services.sales.regionMonth(input.region, input.month);
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
        ...(orders === 0 ? await noSalesHint(services.sales.coverage()) : {}),
      };
    }
    const readings = await services.quotes.month(input.pair, input.month);
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

/** What to tell someone whose region and month matched no order: what there is. */
async function noSalesHint(coverage: Promise<{ regions: string[]; months: string[] }>) {
  const { regions, months } = await coverage;
  return {
    hint: regions.length === 0
      ? "no sales are stored yet: load a file first, e.g. POST /process-csv?filename=vendas.csv"
      : "no orders for this region and month; see available_regions and available_months",
    available_regions: regions,
    available_months: months,
  };
}
