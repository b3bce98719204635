/**
 * Minute-level jobs. `Deno.cron` fires in every local process, so each job
 * submits its task with an idempotency key made of the job and the tick: the
 * first instance's submit wins, the others' are no-ops.
 */
import { getLogger } from "@logtape/logtape";
import type { Engine } from "./engine.ts";

const log = getLogger(["fila", "cron"]);

/** `2026-11-22T10:15Z`: the minute a cron tick belongs to. */
export function tickKey(tick: Date): string {
  return `${tick.toISOString().slice(0, 16)}Z`;
}

/** Submits the quote refresh of this tick; returns the task id and whether this call created it. */
export async function refreshQuotesTick(engine: Engine, tick: Date = new Date()) {
  const { task, created } = await engine.submit({
    type: "refresh_quotes",
    idempotencyKey: `refresh_quotes:${tickKey(tick)}`,
  });
  return { id: task.id, created };
}

/** How long the minute cron may spend running queued work with the `db` driver. */
export const DRAIN_MS = 50_000;

/**
 * One minute tick: the quote refresh, a sweep (the sweeper's timer may be asleep
 * on Deploy), and with the `db` driver a bounded drain of ready work, so queued
 * tasks advance even with no HTTP traffic.
 */
export async function minuteTick(
  engine: Engine,
  tick: Date = new Date(),
  drainMs = DRAIN_MS,
): Promise<void> {
  try {
    await refreshQuotesTick(engine, tick);
  } catch (error) {
    log.error("could not submit the quote refresh: {error}", { error: String(error) });
  }
  await engine.sweeper.sweep();
  if (engine.broker.name === "db") {
    const ran = await engine.drain(drainMs);
    if (ran > 0) log.info("cron drain ran {ran} tasks", { ran });
  }
}

/** Registers the crons; call at the top level of main, before serving (Deno Deploy reads them there). */
export function registerCrons(engine: () => Engine | undefined, schedule: string): void {
  Deno.cron("fila-minute-refresh-quotes-and-sweep", schedule, async () => {
    const current = engine();
    if (current) await minuteTick(current);
  });
}
