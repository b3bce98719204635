import { z } from "zod";
import { defineTask } from "./define_task.ts";

export const sum = defineTask({
  type: "sum",
  description: "Adds a list of numbers.",
  input: z.object({ numbers: z.array(z.number().finite()).max(100_000) }),
  example: { numbers: [1, 2, 3.5] },
  run: ({ input }) => ({
    sum: input.numbers.reduce((a, b) => a + b, 0),
    count: input.numbers.length,
  }),
});
