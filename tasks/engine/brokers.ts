/**
 * The broker drivers, in the order `QUEUE_DRIVER=auto` considers them. A new
 * driver is one file and one line here.
 */
import type { Broker } from "./broker.ts";
import { DbBroker } from "./db_broker.ts";
import { KvBroker } from "./kv_broker.ts";
import { PgBroker } from "./pg_broker.ts";
import type { TaskStore } from "./store.ts";

/** What a driver may be built from, and what `auto` looks at. */
export interface BrokerContext {
  kv: Deno.Kv;
  store: TaskStore;
  /** Running on Deno Deploy (DENO_DEPLOYMENT_ID set). */
  onDeploy: boolean;
  /** KV is remote (KV Connect), which has no queues. */
  remoteKv: boolean;
}

interface BrokerDriver {
  name: string;
  /** Whether `auto` picks this driver here (the first that says yes wins). */
  auto(ctx: BrokerContext): boolean;
  create(ctx: BrokerContext): Broker;
}

const DRIVERS: BrokerDriver[] = [
  {
    name: "pg",
    auto: (c) => c.store.wakeups !== undefined,
    create: (c) => new PgBroker(wakeupsOf(c.store), c.onDeploy),
  },
  { name: "db", auto: (c) => c.onDeploy || c.remoteKv, create: () => new DbBroker() },
  { name: "kv", auto: () => true, create: (c) => new KvBroker(c.kv) },
];

/** The store's wake-up channel; the `pg` driver has nothing to carry wake-ups without one. */
function wakeupsOf(store: TaskStore) {
  if (!store.wakeups) {
    throw new Error("QUEUE_DRIVER=pg needs a PostgreSQL store (DATABASE_URL=postgres://\u2026)");
  }
  return store.wakeups;
}

/** Every driver name, for the configuration's schema. */
export const BROKER_NAMES: readonly string[] = DRIVERS.map((d) => d.name);

/** Builds the driver named `requested` (`auto`: the first whose `auto` holds). */
export function createBroker(requested: string, ctx: BrokerContext): Broker {
  const driver = requested === "auto"
    ? DRIVERS.find((d) => d.auto(ctx))!
    : DRIVERS.find((d) => d.name === requested);
  if (!driver) throw new Error(`unknown queue driver '${requested}'`);
  return driver.create(ctx);
}
