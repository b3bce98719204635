/**
 * A transaction in one round trip: BEGIN, the statements and COMMIT written to
 * one reserved connection at once (postgres.js pipelines what is sent before
 * the answers arrive). `sql.begin` would wait for BEGIN and for the statements
 * before sending COMMIT: three round trips.
 *
 * If a statement fails, PostgreSQL refuses the rest ("current transaction is
 * aborted") and answers the COMMIT with ROLLBACK: nothing of it stays, and the
 * first error is thrown.
 */
import type postgres from "postgres";

/** A statement of a pipelined transaction: prepared (cached per connection) SQL and its values. */
export interface Statement {
  text: string;
  values: unknown[];
}

/** Runs `statements` as one transaction; resolves to each statement's rows, in order. */
export async function pipelinedTransaction(
  sql: postgres.Sql,
  statements: Statement[],
): Promise<postgres.RowList<postgres.Row[]>[]> {
  const connection = await sql.reserve();
  try {
    const sent = [
      connection.unsafe("begin"),
      ...statements.map((s) =>
        connection.unsafe(s.text, s.values as postgres.ParameterOrJSON<never>[], { prepare: true })
      ),
      connection.unsafe("commit"),
    ];
    // every answer is awaited before the connection goes back to the pool
    const settled = await Promise.allSettled(sent);
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const results = settled.map((s) =>
      (s as PromiseFulfilledResult<postgres.RowList<postgres.Row[]>>).value
    );
    if (results.at(-1)!.command !== "COMMIT") {
      throw new Error(`transaction ended with ${results.at(-1)!.command}, not COMMIT`);
    }
    return results.slice(1, -1);
  } finally {
    connection.release();
  }
}
