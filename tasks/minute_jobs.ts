/**
 * What runs every minute, above the engine: the quote refresh, then the
 * engine's own tick (a sweep, and a drain where the broker needs one).
 * `Deno.cron` fires in every local process, so the refresh is submitted with an
 * idempotency key made of the job and the tick: the first instance's submit
 * wins, the others' are no-ops.
 */
import { getLogger } from "@logtape/logtape";
import type { Engine } from "./engine/engine.ts";

const log = getLogger(["fila", "cron"]);

/** `2026-11-22T10:15Z`: the minute a cron tick belongs to. */
export function tickKey(tick: Date): string {
  return `${tick.toISOString().slice(0, 16)}Z`;
}

/** Submits the quote refresh of this tick; returns the task id and whether this call created it. */
export async function refreshQuotesTick(engine: Engine, tick: Date = new Date()) {
  const { task, created } = await engine.submit({
    type: "refresh_quotes",
    payload: { tick: `${tickKey(tick).slice(0, -1)}:00Z` },
    idempotencyKey: `refresh_quotes:${tickKey(tick)}`,
  });
  return { id: task.id, created };
}

/** One minute's jobs; `drainMs` bounds the engine's drain where its broker needs one. */
export async function runMinuteJobs(
  engine: Engine,
  tick: Date = new Date(),
  drainMs?: number,
): Promise<void> {
  try {
    await refreshQuotesTick(engine, tick);
  } catch (error) {
    log.error("could not submit the quote refresh: {error}", { error: String(error) });
  }
  await engine.minuteTick(drainMs);
}

/**
 * Registers the minute cron; call at the top level of main, before serving
 * (Deno Deploy reads crons there). `engine` is read at each tick: the instance
 * starts after the registration.
 */
export function registerMinuteCron(engine: () => Engine | undefined, schedule: string): void {
  Deno.cron("fila-minute-jobs", schedule, async () => {
    const current = engine();
    if (current) await runMinuteJobs(current);
  });
}
