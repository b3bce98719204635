import { z } from "zod";
import { defineTask } from "./define_task.ts";

export const uppercase = defineTask({
  type: "uppercase",
  description: "Returns the text in upper case.",
  input: z.object({ text: z.string().max(100_000) }),
  example: { text: "hello, fila" },
  run: ({ input }) => ({ text: input.text.toUpperCase() }),
});
