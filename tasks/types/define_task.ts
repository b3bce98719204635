/**
 * The contract of a task type, bound to Fila's services. A new type is one file
 * that calls `defineTask` and one line in `registry.ts`:
 *
 * ```ts
 * export const hello = defineTask({
 *   type: "hello",
 *   description: "Greets someone.",
 *   input: z.object({ name: z.string().max(100) }),
 *   example: { name: "Ada" },
 *   run: ({ input }) => ({ greeting: `Hello, ${input.name}` }),
 * });
 * ```
 */
import type { z } from "zod";
import type { TaskContext, TaskDefinition } from "../engine/task_definition.ts";
import type { TaskServices } from "../services.ts";

export type { TaskContext, TaskDefaults } from "../engine/task_definition.ts";

/** A task type whose runs get Fila's services as `ctx.services`. */
export type FilaTaskDefinition<Schema extends z.ZodType = z.ZodType> = TaskDefinition<
  Schema,
  TaskServices
>;

/** Declares a task type (an identity function that keeps the input type). */
export function defineTask<Schema extends z.ZodType>(
  definition: FilaTaskDefinition<Schema>,
): FilaTaskDefinition<Schema> {
  return definition;
}

/** The context a run of a type with input `Input` gets. */
export type FilaTaskContext<Input> = TaskContext<Input, TaskServices>;
