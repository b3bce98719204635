/**
 * Entry of a Fila instance run as a child process by tests: the real service
 * plus the test task types, announcing itself on stdout with one line.
 */
import { loadConfig } from "../../config.ts";
import { configureLogging, startFila } from "../../main.ts";
import { testTaskTypes } from "./test_task_types.ts";
import { openSql } from "./sql.ts";

const config = loadConfig();
await configureLogging(config);
const instance = await startFila(config, {
  extraTaskTypes: testTaskTypes,
  extraServices: { testSql: openSql(config.DATABASE_URL) },
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    instance.stop().then(() => Deno.exit(0), () => Deno.exit(1));
  });
}
// test hook: run the minute cron's quote submission for a fixed tick, as every instance's cron would
const tick = Deno.env.get("FILA_TEST_CRON_TICK");
if (tick) await instance.scheduler.tick(new Date(tick));
console.log(`FILA_READY ${JSON.stringify({ url: instance.url, instance: instance.instanceId })}`);
