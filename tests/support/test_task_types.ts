/**
 * Task types that exist only in tests: they fail on purpose, block, or record
 * every execution, so the engine's guarantees can be observed from outside.
 */
import { z } from "zod";
import { defineTask } from "../../tasks/types/define_task.ts";
import { sleep } from "../../tasks/engine/sleep.ts";
import { UnrecoverableError } from "../../tasks/engine/errors.ts";
import { openSql, type SqlClient } from "./sql.ts";

let executions: Promise<SqlClient> | null = null;
/**
 * The instance's database, as its DATABASE_URL names it (test_record runs in child processes),
 * with the test_executions table. `at` is BIGINT: epoch ms overflow PostgreSQL's INTEGER. Tests
 * that start several instances at once create the table first: PostgreSQL's CREATE TABLE IF NOT
 * EXISTS is not safe against itself.
 */
function executionLog(): Promise<SqlClient> {
  return executions ??= (async () => {
    const db = openSql(Deno.env.get("DATABASE_URL") ?? "file:./data/fila.db");
    await db.query(EXECUTIONS_TABLE);
    return db;
  })().catch((error) => {
    executions = null; // the database was away: try again on the next execution
    throw error;
  });
}

/** The table test_record writes to. */
export const EXECUTIONS_TABLE =
  "CREATE TABLE IF NOT EXISTS test_executions (task_id TEXT, attempt INTEGER, pid INTEGER, at BIGINT)";

/** Fails its first `fail_times` attempts, then succeeds. */
export const flaky = defineTask({
  type: "test_flaky",
  description: "test: fails N times, then succeeds",
  input: z.object({ fail_times: z.number().int().min(0) }),
  example: { fail_times: 2 },
  run: ({ input, attempt }) => {
    if (attempt <= input.fail_times) {
      throw new Error(`planned failure ${attempt} of ${input.fail_times}`);
    }
    return { succeeded_on_attempt: attempt };
  },
});

/** Always fails; `unrecoverable` makes it fail without retries. */
export const alwaysFails = defineTask({
  type: "test_always_fails",
  description: "test: always fails",
  input: z.object({ unrecoverable: z.boolean().optional() }).default({}),
  example: {},
  run: ({ input, attempt }) => {
    if (input.unrecoverable) throw new UnrecoverableError("this cannot work");
    throw new Error(`attempt ${attempt} failed on purpose`);
  },
});

/** Sleeps `ms` (honouring the signal) and reports what it was. */
export const sleepy = defineTask({
  type: "test_sleep",
  description: "test: sleeps",
  input: z.object({ ms: z.number().int().min(0), ignore_signal: z.boolean().optional() }),
  example: { ms: 100 },
  run: async ({ input, signal, taskId }) => {
    await sleep(input.ms, input.ignore_signal ? undefined : signal);
    return { slept_ms: input.ms, id: taskId };
  },
});

/** Records each execution (task, attempt, instance) in its own table, then optionally sleeps. */
export const recordExecution = defineTask({
  type: "test_record",
  description: "test: records every execution",
  input: z.object({ ms: z.number().int().min(0).default(0) }).default({ ms: 0 }),
  example: { ms: 0 },
  run: async ({ input, signal, taskId, attempt }) => {
    const db = await executionLog();
    await db.query("INSERT INTO test_executions VALUES (?, ?, ?, ?)", [
      taskId,
      attempt,
      Deno.pid,
      Date.now(),
    ]);
    if (input.ms > 0) await sleep(input.ms, signal);
    return { attempt };
  },
});

export const testTaskTypes = [flaky, alwaysFails, sleepy, recordExecution];
