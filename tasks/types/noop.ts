import { z } from "zod";
import { defineTask } from "./define_task.ts";

/** Epoch milliseconds with sub-millisecond precision. */
const preciseNow = () => performance.timeOrigin + performance.now();

/** Does nothing: the unit of the benchmarks and a probe of the queue itself. */
export const noop = defineTask({
  type: "noop",
  description: "Does nothing and succeeds; returns `n + 1` when given `n`. With `timed: true` " +
    "it returns `{ value, t_start, t_end }`: when its run began and ended, in epoch ms with " +
    "sub-ms precision.",
  input: z.object({ n: z.number().int().optional(), timed: z.boolean().optional() }).default({}),
  example: {},
  run: ({ input }) => {
    const tStart = input.timed ? preciseNow() : 0;
    const value = input.n === undefined ? null : input.n + 1;
    if (!input.timed) return value;
    return { value, t_start: tStart, t_end: preciseNow() };
  },
});
