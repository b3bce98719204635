/**
 * Statements built by drizzle once, at start-up, and then only bound to values.
 * Building a query (walking its SQL chunks, checking entity kinds, escaping
 * names) cost more than running it on Fila's hot path (submit, claim, finish);
 * a compiled statement keeps drizzle's SQL and value encoders and skips the rest.
 */
import { is, Param, Placeholder } from "drizzle-orm";
import type { InStatement, InValue } from "@libsql/client";

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
