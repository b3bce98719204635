import { z } from "zod";
import { defineTask } from "./define_task.ts";

/** Does nothing: the unit of the benchmarks and a probe of the queue itself. */
export const noop = defineTask({
  type: "noop",
  description:
    "Does nothing and succeeds; returns `n + 1` when given `n`, like the peer benchmarks.",
  input: z.object({ n: z.number().int().optional() }).default({}),
  example: {},
  run: ({ input }) => input.n === undefined ? null : input.n + 1,
});
