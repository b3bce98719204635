/**
 * Several statements as one transaction on one pooled connection. A single
 * statement is sent alone (it is atomic by itself), saving BEGIN and COMMIT's
 * round trips; the commit's WAL flush is the same either way.
 *
 * Each statement has a name: node-postgres prepares it once per connection and
 * then only binds values (one round trip, no parsing or planning again).
 */
// @ts-types="npm:@types/pg@^8.23.1"
import type pg from "pg";

/** A named statement (prepared per connection) and its values. */
export interface Statement {
  name: string;
  text: string;
  values: unknown[];
}

/** Connections already given an 'error' listener (a checked-out one must have one). */
const listening = new WeakSet<pg.PoolClient>();

/** Runs `statements` as one transaction; resolves to each statement's rows, in order. */
export async function runTransaction(
  pool: pg.Pool,
  statements: Statement[],
): Promise<Record<string, unknown>[][]> {
  if (statements.length === 1) return [(await pool.query(statements[0])).rows];
  const client = await pool.connect();
  if (!listening.has(client)) {
    // a connection that breaks mid-transaction emits 'error' besides failing the query:
    // unheard, that event would end the process
    client.on("error", () => {});
    listening.add(client);
  }
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    const rows: Record<string, unknown>[][] = [];
    for (const statement of statements) rows.push((await client.query(statement)).rows);
    await client.query("COMMIT");
    return rows;
  } catch (error) {
    await client.query("ROLLBACK").catch((rollbackError) => broken = rollbackError);
    throw error;
  } finally {
    // a connection that could not even roll back is closed rather than reused
    client.release(broken);
  }
}
