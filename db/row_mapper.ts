/**
 * Raw rows to drizzle's typed rows, for either store: the hot statements run
 * compiled (libSQL) or as prepared statements and a turn function (PostgreSQL),
 * not through drizzle's selects, and their rows are shaped here as a select
 * would shape them.
 */
import { getTableColumns, type Table } from "drizzle-orm";

/** Maps a raw row (named by column) of `table` to drizzle's typed row, as a select would. */
export function rowMapper<T extends Table>(
  table: T,
): (row: Record<string, unknown>) => T["$inferSelect"] {
  const columns = Object.entries(getTableColumns(table)).map(([key, column]) => ({
    key,
    name: column.name,
    column,
  }));
  return (row) => {
    const out: Record<string, unknown> = {};
    for (const { key, name, column } of columns) {
      const value = row[name];
      out[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
    }
    return out as T["$inferSelect"];
  };
}
