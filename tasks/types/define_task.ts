/**
 * The contract of a task type. A new type is one file that calls `defineTask`
 * and one line in `registry.ts`:
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
import type { Logger } from "@logtape/logtape";
import type { z } from "zod";
import type { Priority } from "../engine/model.ts";
import type { TaskServices } from "../services.ts";

export interface TaskContext<Input> {
  /** The payload, parsed by the type's own schema. */
  input: Input;
  taskId: string;
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number;
  maxAttempts: number;
  priority: Priority;
  /** Aborts on cancel, on timeout, and at shutdown; long tasks must honour it. */
  signal: AbortSignal;
  /** Reports progress (0–100) with an optional message; stored and streamed. */
  progress(percent: number, message?: string): Promise<void>;
  /** A logger whose lines carry the task id and type. */
  log: Logger;
  services: TaskServices;
}

export interface TaskDefaults {
  priority?: Priority;
  maxAttempts?: number;
  timeoutMs?: number;
}

export interface TaskDefinition<Schema extends z.ZodType = z.ZodType> {
  /** The name clients send as `type`: lower_snake_case. */
  type: string;
  description: string;
  input: Schema;
  /** A valid payload, shown in the docs and the dashboard's form. */
  example: z.input<Schema>;
  defaults?: TaskDefaults;
  run(ctx: TaskContext<z.output<Schema>>): unknown;
}

/** Declares a task type (an identity function that keeps the input type). */
export function defineTask<Schema extends z.ZodType>(
  definition: TaskDefinition<Schema>,
): TaskDefinition<Schema> {
  return definition;
}
