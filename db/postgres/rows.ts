/**
 * Rows of the hot statements, which run as named prepared statements through
 * node-postgres (task_store.ts), or come back as JSON from the turn function
 * (migration 0002), shaped as drizzle's selects shape them.
 */
import { getTableColumns, type Table } from "drizzle-orm";

/**
 * Maps a row that PostgreSQL wrote as JSON (`json_agg` of a table's rows, parsed once) to
 * drizzle's typed row: values are already JavaScript's (numbers, booleans, and a json column's
 * value as it was stored), only the names change.
 */
export function jsonRowMapper<T extends Table>(
  table: T,
): (row: Record<string, unknown>) => T["$inferSelect"] {
  const names = Object.entries(getTableColumns(table)).map(([key, column]) => [key, column.name]);
  return (row) => {
    const out: Record<string, unknown> = {};
    for (const [key, name] of names) out[key] = row[name] ?? null;
    return out as T["$inferSelect"];
  };
}
