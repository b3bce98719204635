/**
 * The contract of a task type, as the engine runs it. `tasks/types/define_task.ts`
 * binds `Services` to the app's services; the engine passes them through unread.
 */
import type { Logger } from "@logtape/logtape";
import type { z } from "zod";
import type { Priority } from "./model.ts";

export interface TaskContext<Input, Services = unknown> {
  /** The payload, parsed by the type's own schema. */
  input: Input;
  taskId: string;
  /** When the task was submitted (epoch ms). */
  submittedAt: number;
  /** 1 on the first run, 2 on the first retry, ... */
  attempt: number;
  maxAttempts: number;
  priority: Priority;
  /** Aborts on cancel, on timeout, and at shutdown; long tasks must honour it. */
  signal: AbortSignal;
  /** Reports progress (0-100) with an optional message; stored and streamed. */
  progress(percent: number, message?: string): Promise<void>;
  /** A logger whose lines carry the task id and type. */
  log: Logger;
  /** The results of the tasks this one waited for (`depends_on`), by task id. */
  dependencies: Record<string, unknown>;
  services: Services;
}

export interface TaskDefaults {
  priority?: Priority;
  maxAttempts?: number;
  timeoutMs?: number;
}

export interface TaskDefinition<Schema extends z.ZodType = z.ZodType, Services = unknown> {
  /** The name clients send as `type`: lower_snake_case. */
  type: string;
  description: string;
  input: Schema;
  /** A valid payload, shown in the docs and the dashboard's form. */
  example: z.input<Schema>;
  defaults?: TaskDefaults;
  /**
   * Refuses a submission for a reason the schema cannot see (it needs the
   * services, e.g. an allow-list): return a message and the submit is a 400
   * naming `payload`; return null to accept.
   */
  admit?(input: z.output<Schema>, services: Services): string | null;
  run(ctx: TaskContext<z.output<Schema>, Services>): unknown;
}
