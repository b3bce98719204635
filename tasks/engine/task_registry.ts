/**
 * Looks task types up by name and checks payloads against their own schemas.
 */
import type { z } from "zod";
import { InvalidTaskError } from "./errors.ts";
import type { TaskDefinition } from "./task_definition.ts";

/** A zod error as the flat list of `{ path, message }` every 400 of Fila carries. */
export function zodIssues(error: z.ZodError, prefix = ""): { path: string; message: string }[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join("."),
    message: issue.message,
  }));
}

export class TaskRegistry {
  private readonly byType = new Map<string, TaskDefinition>();

  constructor(definitions: TaskDefinition[]) {
    for (const definition of definitions) {
      if (this.byType.has(definition.type)) {
        throw new Error(`task type '${definition.type}' is defined twice`);
      }
      this.byType.set(definition.type, definition);
    }
  }

  get(type: string): TaskDefinition | undefined {
    return this.byType.get(type);
  }

  all(): TaskDefinition[] {
    return [...this.byType.values()];
  }

  names(): string[] {
    return [...this.byType.keys()];
  }

  /** The definition of `type`, or an InvalidTaskError naming the known types. */
  require(type: string): TaskDefinition {
    const definition = this.byType.get(type);
    if (!definition) {
      throw new InvalidTaskError(
        `unknown task type '${type}'`,
        [{ path: "type", message: `unknown task type '${type}'` }],
        { known_types: this.names() },
      );
    }
    return definition;
  }

  /**
   * Checks `payload` against the type's schema and returns it as stored. No
   * payload counts as `{}`, so a type whose fields are all optional needs none
   * (the seeds send `action` without `data`).
   */
  validatePayload(type: string, payload: unknown, services?: unknown): unknown {
    const definition = this.require(type);
    const given = payload ?? {};
    const parsed = definition.input.safeParse(given);
    if (!parsed.success) {
      const issues = zodIssues(parsed.error, "payload");
      throw new InvalidTaskError(
        `payload does not fit task type '${type}': ${issues[0]?.path}: ${issues[0]?.message}`,
        issues,
      );
    }
    const refusal = definition.admit?.(parsed.data, services);
    if (refusal) {
      throw new InvalidTaskError(`payload refused by task type '${type}': ${refusal}`, [
        { path: "payload", message: refusal },
      ]);
    }
    // Store what the client sent (defaults are applied again at run time).
    return given;
  }
}
