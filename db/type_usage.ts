/**
 * A type's current use from the two counts both stores read: tasks running
 * now, and starts in the last minute (type_starts), one row per type each.
 */
import type { TypeUsage } from "../tasks/engine/store.ts";

type CountByType = { type: string; n: number };

/** One entry per type that has either count; the other is 0. */
export function typeUsageOf(running: CountByType[], started: CountByType[]): TypeUsage[] {
  const usage = new Map<string, TypeUsage>();
  const of = (type: string) => {
    let u = usage.get(type);
    if (!u) usage.set(type, u = { type, running: 0, startedLastMinute: 0 });
    return u;
  };
  for (const r of running) of(r.type).running = r.n;
  for (const r of started) of(r.type).startedLastMinute = r.n;
  return [...usage.values()];
}
