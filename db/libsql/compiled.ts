/**
 * Statements built by drizzle once, at start-up, and then only bound to values.
 * Building a query (walking its SQL chunks, checking entity kinds, escaping
 * names) cost more than running it on Fila's hot path (submit, claim, finish);
 * a compiled statement keeps drizzle's SQL and value encoders and skips the rest.
 */
import { getTableColumns, is, Param, Placeholder, type Table } from "drizzle-orm";
import type { InStatement, InValue, Row } from "@libsql/client";

/** Binds `values` (by placeholder name) to a statement compiled from a drizzle query. */
export type Bind<V> = (values: V) => InStatement;

/** Compiles a drizzle query built with `sql.placeholder(name)` where values go. */
export function compile<V extends Record<string, unknown>>(
  query: { toSQL(): { sql: string; params: unknown[] } },
): Bind<V> {
  const { sql, params } = query.toSQL();
  const slots = params.map((param): (values: V) => InValue => {
    if (is(param, Placeholder)) return (values) => valueOf(values, param.name) as InValue;
    if (is(param, Param) && is(param.value, Placeholder)) {
      const { name } = param.value;
      const encoder = param.encoder;
      return (values) => {
        const value = valueOf(values, name);
        // an encoder turns null into "null" (JSON); NULL stays NULL
        return value === null ? null : encoder.mapToDriverValue(value) as InValue;
      };
    }
    const constant = param as InValue;
    return () => constant;
  });
  return (values) => ({ sql, args: slots.map((slot) => slot(values)) });
}

function valueOf(values: Record<string, unknown>, name: string): unknown {
  const value = values[name];
  if (value === undefined) throw new Error(`no value for placeholder "${name}"`);
  return value;
}

/** Maps a raw row (named by column) of `table` to drizzle's typed row, as a select would. */
export function rowMapper<T extends Table>(table: T): (row: Row) => T["$inferSelect"] {
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
