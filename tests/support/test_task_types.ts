/**
 * Task types that exist only in tests: they fail on purpose, block, or record
 * every execution, so the engine's guarantees can be observed from outside.
 */
import { z } from "zod";
import { defineTask } from "../../tasks/types/define_task.ts";
import { sleep } from "../../tasks/engine/sleep.ts";
import { UnrecoverableError } from "../../tasks/engine/errors.ts";
import type { SqlClient } from "./sql.ts";

/** The extra service the harness gives test instances: plain SQL on their own database. */
export interface TestServices {
  testSql: SqlClient;
}

/** The instance's database, through the service the harness added. */
function executionLog(services: unknown): SqlClient {
  const sql = (services as Partial<TestServices>).testSql;
  if (!sql) throw new Error("test task types need the testSql service (tests/support/harness.ts)");
  return sql;
}

const tablesMade = new WeakMap<SqlClient, Map<string, Promise<unknown>>>();
/**
 * Makes a test table once per client: concurrent CREATE TABLE IF NOT EXISTS in one
 * process would collide on PostgreSQL (a duplicate type); a failure is tried again next time.
 */
function ensureTable(sql: SqlClient, ddl: string): Promise<unknown> {
  let made = tablesMade.get(sql);
  if (!made) tablesMade.set(sql, made = new Map());
  let done = made.get(ddl);
  if (!done) {
    done = sql.query(ddl).catch((error) => {
      made.delete(ddl);
      throw error;
    });
    made.set(ddl, done);
  }
  return done;
}

/**
 * The table test_record writes to. `at` is BIGINT: epoch ms overflow PostgreSQL's INTEGER. Tests
 * that start several instances at once create the table first: PostgreSQL's CREATE TABLE IF NOT
 * EXISTS is not safe against itself.
 */
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
  run: async ({ input, signal, taskId, attempt, services }) => {
    const db = executionLog(services);
    await ensureTable(db, EXECUTIONS_TABLE);
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

/** Returns the results of the tasks it waited for (ctx.dependencies) and its own `tag`. */
export const echoDependencies = defineTask({
  type: "test_echo_dependencies",
  description: "test: returns ctx.dependencies",
  input: z.object({ tag: z.string().optional() }).default({}),
  example: {},
  run: ({ input, dependencies }) => ({ tag: input.tag ?? null, dependencies }),
});

/** The table test_span writes to (times BIGINT, as test_executions'). */
export const SPANS_TABLE =
  "CREATE TABLE IF NOT EXISTS test_spans (task_id TEXT, pid INTEGER, started BIGINT, ended BIGINT)";

/** Records when each run starts and ends (test_spans), sleeping `ms` between. */
export const span = defineTask({
  type: "test_span",
  description: "test: records its start and end",
  input: z.object({ ms: z.number().int().min(0).default(200) }).default({ ms: 200 }),
  example: { ms: 200 },
  run: async ({ input, signal, taskId, services }) => {
    const db = executionLog(services);
    await ensureTable(db, SPANS_TABLE);
    const started = Date.now();
    await sleep(input.ms, signal);
    await db.query("INSERT INTO test_spans VALUES (?, ?, ?, ?)", [
      taskId,
      Deno.pid,
      started,
      Date.now(),
    ]);
    return { started };
  },
});

export const testTaskTypes = [flaky, alwaysFails, sleepy, recordExecution, echoDependencies, span];
