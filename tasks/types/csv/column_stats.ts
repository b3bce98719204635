/**
 * Per-column statistics over a stream of records: numeric columns get count, min,
 * max, mean and sum; text columns their most frequent values.
 */

const TOP_VALUES = 5;
/** Distinct values tracked per text column; beyond it new values are not counted. */
const MAX_DISTINCT = 10_000;

export type ColumnSummary =
  | {
    type: "numeric";
    count: number;
    min: number;
    max: number;
    mean: number;
    sum: number;
    empty: number;
  }
  | {
    type: "text";
    count: number;
    distinct: number;
    top: { value: string; count: number }[];
    empty: number;
  };

class ColumnAccumulator {
  count = 0;
  empty = 0;
  numeric = true;
  min = Infinity;
  max = -Infinity;
  sum = 0;
  readonly values = new Map<string, number>();

  add(raw: string): void {
    const value = raw.trim();
    if (value === "") {
      this.empty++;
      return;
    }
    this.count++;
    if (this.numeric) {
      const n = Number(value);
      if (Number.isFinite(n)) {
        if (n < this.min) this.min = n;
        if (n > this.max) this.max = n;
        this.sum += n;
      } else this.numeric = false;
    }
    const seen = this.values.get(value);
    if (seen !== undefined) this.values.set(value, seen + 1);
    else if (this.values.size < MAX_DISTINCT) this.values.set(value, 1);
  }

  summary(): ColumnSummary {
    if (this.numeric && this.count > 0) {
      return {
        type: "numeric",
        count: this.count,
        min: this.min,
        max: this.max,
        mean: this.sum / this.count,
        sum: round(this.sum),
        empty: this.empty,
      };
    }
    const top = [...this.values.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, TOP_VALUES).map(([value, count]) => ({ value, count }));
    return { type: "text", count: this.count, distinct: this.values.size, top, empty: this.empty };
  }
}

/** Sums of decimal money values drift in binary; six decimals keep them readable and exact enough. */
function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

export class ColumnStats {
  private readonly columns: ColumnAccumulator[];

  constructor(readonly names: string[]) {
    this.columns = names.map(() => new ColumnAccumulator());
  }

  add(record: string[]): void {
    for (let i = 0; i < this.columns.length; i++) this.columns[i].add(record[i] ?? "");
  }

  summary(): Record<string, ColumnSummary> {
    return Object.fromEntries(this.names.map((name, i) => [name, this.columns[i].summary()]));
  }
}
