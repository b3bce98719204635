import { z } from "zod";
import type { Priority } from "../engine/model.ts";
import { defineTask } from "./define_task.ts";
import { sleep } from "../engine/sleep.ts";

/** The seed's default durations: urgent work is short. */
const DEFAULT_DURATION_MS: Record<Priority, number> = { high: 2_000, medium: 5_000, low: 10_000 };
const STEPS = 10;

export const work = defineTask({
  type: "work",
  description: "A unit of simulated work that takes `duration_ms` (by default 2 s, 5 s or 10 s " +
    "for high, medium or low priority), reporting progress in ten steps; honours cancel.",
  input: z.object({ duration_ms: z.number().int().min(0).max(3_600_000).optional() }).default({}),
  example: { duration_ms: 3000 },
  async run({ input, priority, signal, progress }) {
    const duration = input.duration_ms ?? DEFAULT_DURATION_MS[priority];
    for (let step = 1; step <= STEPS; step++) {
      await sleep(duration / STEPS, signal);
      await progress(step * (100 / STEPS), `step ${step} of ${STEPS}`);
    }
    return { worked_ms: duration };
  },
});
